// The roster (issue #15 item 6): a day's plan by person and hour -- proposed by the hub from the staffing plan
// (Erlang C on the forecast), edited cell by cell by a floor manager, then published for the dispatcher --
// and, for admins, the people themselves (add one, take one off duty).
import { h, fill, toast } from "../dom.js";
import { can } from "../roles.js";
import { errorText } from "./common.js";

const HOURS = Array.from({ length: 24 }, (_, n) => n);
const ROLES = ["floor_manager", "staff", "maintenance", "liaison"];
const TONE = { none: "", proposed: "warn", changed: "warn", published: "ok" };

/** YYYY-MM-DD plus n days (calendar arithmetic on the date alone). */
export function addDays(day, n) {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export class RosterView {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
    this.day = null;
    this.data = null;
    this.editing = null; // "person|hour" of the cell being edited
  }

  mount(root) {
    const i = this.i18n;
    this.dateEl = h("input", { type: "date", "data-testid": "roster-date", onchange: () => this.load(this.dateEl.value) });
    this.statusEl = h("span", { class: "badge", "data-testid": "roster-status" });
    this.proposeBtn = h("button", { class: "btn", type: "button", "data-testid": "roster-propose", onclick: () => this.propose() }, i.t("roster.propose"));
    this.publishBtn = h("button", { class: "btn-primary", type: "button", "data-testid": "roster-publish", onclick: () => this.publish() }, i.t("roster.publish"));
    this.infoEl = h("div", { class: "muted", "data-testid": "roster-info" });
    this.gridEl = h("div", { class: "roster-grid-wrap" });
    this.peopleEl = h("div", {});
    const planner = can(this.app.me.role, "planRoster");
    root.append(h("div", { class: "roster", "data-testid": "view-roster" },
      h("section", { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, i.t("roster.title")), this.dateEl, this.statusEl, h("span", { class: "spacer" }),
          planner ? this.proposeBtn : null, planner ? this.publishBtn : null),
        this.infoEl, this.gridEl),
      can(this.app.me.role, "editPeople") ? h("section", { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, i.t("roster.people"))), this.personForm(), this.peopleEl) : null));
    this.onChange = (ev) => { if (ev.detail.collection === "roster.published") this.load(this.day); };
    this.app.store.addEventListener("change", this.onChange);
    this.start();
  }

  unmount() {
    this.app.store.removeEventListener("change", this.onChange);
  }

  /** Tomorrow by the hub's clock (the hub answers today's date when asked without one). */
  async start() {
    try {
      const today = await this.app.api.get("/api/roster");
      await this.load(addDays(today.date, 1));
    } catch (err) {
      fill(this.gridEl, h("div", { class: "error-text" }, errorText(this.i18n, err)));
    }
    this.loadPeople();
  }

  async load(day) {
    if (!day) return;
    this.day = day;
    this.dateEl.value = day;
    try {
      this.render(await this.app.api.get(`/api/roster?date=${day}`));
    } catch (err) {
      fill(this.gridEl, h("div", { class: "error-text" }, errorText(this.i18n, err)));
    }
  }

  async act(fn, done) {
    try {
      this.render(await fn());
      if (done) toast(done, "info");
    } catch (err) {
      toast(errorText(this.i18n, err), "bad", 8000);
    }
  }

  propose() {
    this.proposeBtn.disabled = true;
    this.act(() => this.app.api.post(`/api/roster/proposal?date=${this.day}`), this.i18n.t("roster.proposed_toast"))
      .finally(() => { this.proposeBtn.disabled = false; });
  }

  publish() {
    this.act(() => this.app.api.post(`/api/roster/publish?date=${this.day}`), this.i18n.t("roster.published_toast", { date: this.day }));
  }

  setCell(person, hour, zone) {
    this.editing = null;
    this.act(() => this.app.api.patch(`/api/roster/proposal?date=${this.day}`, { cells: [{ person, hour, zone }] }));
  }

  zoneLabel(id) {
    return this.i18n.zoneName(this.app.zone(id));
  }

  render(data) {
    const i = this.i18n;
    this.data = data;
    this.statusEl.dataset.status = data.status;
    this.statusEl.dataset.tone = TONE[data.status] || "";
    this.statusEl.textContent = i.t(`roster.status_${data.status}`);
    this.publishBtn.disabled = !["proposed", "changed"].includes(data.status);
    const short = (data.unfilled || []).reduce((n, u) => n + u.short, 0);
    fill(this.infoEl,
      data.published_at ? i.t("roster.published_by", { who: data.published_by, at: i.dateTime(data.published_at) }) : "",
      short ? h("span", { "data-testid": "roster-unfilled" }, " ", i.t("roster.unfilled", { n: short })) : "");
    if (data.status === "none") {
      fill(this.gridEl, h("div", { class: "empty", "data-testid": "roster-empty" }, i.t("roster.none")));
      return;
    }
    const key = (c) => `${c.person}|${c.hour}`;
    const proposed = new Map(data.proposed.map((c) => [key(c), c.zone]));
    const published = new Map(data.published.map((c) => [key(c), c.zone]));
    const planner = can(this.app.me.role, "planRoster");
    const rows = data.people.map((p) => {
      const name = (i.lang === "zh" && p.name_zh) || p.name;
      return h("tr", { "data-testid": "roster-row", "data-person": p.id },
        h("th", { title: i.term("role", p.role) }, name),
        HOURS.map((hour) => {
          const k = `${p.id}|${hour}`;
          const zone = proposed.get(k);
          const changed = data.published_at && zone !== published.get(k);
          const attrs = { class: `roster-cell${zone !== undefined ? " on" : ""}${changed ? " changed" : ""}`, "data-testid": "roster-cell",
            "data-person": p.id, "data-hour": hour, "data-zone": zone ?? "", "data-changed": changed ? "1" : undefined,
            title: zone === undefined ? i.t("roster.off") : zone === "" ? i.t("roster.own_zones") : this.zoneLabel(zone) };
          if (planner && this.editing === k) return h("td", attrs, this.cellEditor(p, hour, zone));
          const text = zone === undefined ? "" : zone === "" ? "●" : this.zoneLabel(zone).slice(0, i.lang === "zh" ? 2 : 4);
          return h("td", { ...attrs, onclick: planner ? () => { this.editing = k; this.render(this.data); } : undefined }, text);
        }));
    });
    // Per hour, the places the proposal could not fill (zone: how many short), under the grid.
    const gaps = HOURS.map((hour) => (data.unfilled || []).filter((u) => u.hour === hour));
    const gapRow = h("tr", { class: "roster-gaps", "data-testid": "roster-gaps" }, h("th", {}, i.t("roster.gap")),
      gaps.map((list) => h("td", { title: list.map((u) => `${this.zoneLabel(u.zone)}: ${u.short}`).join("\n") },
        list.length ? String(list.reduce((n, u) => n + u.short, 0)) : "")));
    fill(this.gridEl, h("table", { class: "roster-grid" },
      h("thead", {}, h("tr", {}, h("th", {}, i.t("roster.person")), HOURS.map((hour) => h("th", {}, String(hour).padStart(2, "0"))))),
      h("tbody", {}, rows), h("tfoot", {}, gapRow)),
      h("div", { class: "muted roster-legend" }, i.t("roster.legend")));
  }

  cellEditor(p, hour, zone) {
    const i = this.i18n;
    const zones = this.app.site?.zones || [];
    const current = zone === undefined ? "__off" : zone === "" ? "__own" : zone;
    const select = h("select", { "data-testid": "roster-cell-edit", onchange: () => {
      const v = select.value;
      this.setCell(p.id, hour, v === "__off" ? null : v === "__own" ? "" : v);
    }, onkeydown: (ev) => { if (ev.key === "Escape") { this.editing = null; this.render(this.data); } } },
    h("option", { value: "__off", selected: current === "__off" }, i.t("roster.off")),
    h("option", { value: "__own", selected: current === "__own" }, i.t("roster.own_zones")),
    zones.map((z) => h("option", { value: z.id, selected: current === z.id }, i.zoneName(z))));
    setTimeout(() => select.focus(), 0);
    return select;
  }

  // -- people (admins) -------------------------------------------------------------------------------

  personForm() {
    const i = this.i18n;
    const id = h("input", { required: true, pattern: "[A-Za-z0-9_-]{1,64}", placeholder: "p-...", "data-testid": "person-id" });
    const name = h("input", { required: true, "data-testid": "person-name", placeholder: i.t("roster.name") });
    const role = h("select", { "data-testid": "person-role" }, ROLES.map((r) => h("option", { value: r }, i.term("role", r))));
    const zone = h("select", { "data-testid": "person-zone" }, h("option", { value: "" }, "—"),
      (this.app.site?.zones || []).map((z) => h("option", { value: z.id }, i.zoneName(z))));
    const shift = h("input", { value: "08:00-17:00", pattern: "[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}", "data-testid": "person-shift" });
    return h("form", { class: "inline-form", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await this.app.api.post("/api/people", { id: id.value.trim(), name: name.value.trim(), role: role.value,
          zones: zone.value ? [zone.value] : [], shift: shift.value.trim() });
        toast(i.t("roster.person_added", { name: name.value.trim() }), "info");
        id.value = "";
        name.value = "";
        this.loadPeople();
        this.load(this.day);
      } catch (err) {
        toast(errorText(i, err), "bad", 8000);
      }
    } }, id, name, role, zone, shift, h("button", { class: "btn-primary", type: "submit", "data-testid": "person-add" }, i.t("roster.add_person")));
  }

  async loadPeople() {
    if (!can(this.app.me.role, "editPeople")) return;
    const i = this.i18n;
    let people;
    try {
      people = await this.app.api.get("/api/people");
    } catch (err) {
      fill(this.peopleEl, h("div", { class: "error-text" }, errorText(i, err)));
      return;
    }
    fill(this.peopleEl, h("table", { class: "people" },
      h("thead", {}, h("tr", {}, ["roster.name", "admin.role", "roster.zones", "roster.shift", "roster.on_duty", "roster.contact"].map((k) => h("th", {}, i.t(k))))),
      h("tbody", {}, people.map((p) => h("tr", { "data-testid": "person", "data-person": p.id },
        h("td", {}, (i.lang === "zh" && p.name_zh) || p.name),
        h("td", {}, i.term("role", p.role)),
        h("td", {}, p.zones.map((z) => this.zoneLabel(z)).join(", ") || (p.elastic ? i.t("roster.elastic") : "—")),
        h("td", {}, p.shift),
        h("td", {}, h("input", { type: "checkbox", checked: p.on_duty, "data-testid": "person-on-duty", onchange: async (ev) => {
          try {
            await this.app.api.patch(`/api/people/${encodeURIComponent(p.id)}`, { on_duty: ev.target.checked });
            this.load(this.day);
          } catch (err) {
            toast(errorText(i, err), "bad", 8000);
            ev.target.checked = !ev.target.checked;
          }
        } })),
        h("td", {}, [p.email, p.phone].filter(Boolean).join(" · ") || "—"))))));
  }
}
