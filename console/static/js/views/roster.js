// The roster (issue #15 item 6): a day's plan by person and hour -- proposed by the hub from the staffing plan
// (Erlang C on the forecast), edited cell by cell by a floor manager, then published for the dispatcher --
// and, for admins, the people themselves (add one; edit role, zones, shift and contact points; take one off duty;
// delete one), with what pages each person now (their own choices or the roster's).
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
    this.people = people;
    fill(this.peopleEl, h("table", { class: "people" },
      h("thead", {}, h("tr", {}, ["roster.name", "admin.role", "roster.zones", "roster.shift", "roster.on_duty", "roster.contact",
        "roster.pages", ""].map((k) => h("th", {}, k ? i.t(k) : "")))),
      h("tbody", {}, people.map((p) => [h("tr", { "data-testid": "person", "data-person": p.id },
        h("td", {}, (i.lang === "zh" && p.name_zh) || p.name),
        h("td", { "data-testid": "person-role-text" }, i.term("role", p.role)),
        h("td", { "data-testid": "person-zones" }, p.zones.map((z) => this.zoneLabel(z)).join(", ") || (p.elastic ? i.t("roster.elastic") : "—")),
        h("td", { "data-testid": "person-shift-text" }, p.shift),
        h("td", {}, h("input", { type: "checkbox", checked: p.on_duty, "data-testid": "person-on-duty", onchange: async (ev) => {
          try {
            await this.app.api.patch(`/api/people/${encodeURIComponent(p.id)}`, { on_duty: ev.target.checked });
            this.load(this.day);
          } catch (err) {
            toast(errorText(i, err), "bad", 8000);
            ev.target.checked = !ev.target.checked;
          }
        } })),
        h("td", { "data-testid": "person-contact" }, [p.email, p.phone].filter(Boolean).join(" · ") || "—"),
        h("td", { "data-testid": "person-pages" }, this.pagesText(p.notify),
          p.notify?.source === "own" ? h("span", { class: "badge", dataset: { tone: "warn" }, "data-testid": "person-pages-own",
            title: i.t("roster.pages_own_hint") }, i.t("roster.pages_own")) : null),
        h("td", {}, h("button", { class: "btn", type: "button", "data-testid": "person-edit",
          onclick: () => { this.editingPerson = this.editingPerson === p.id ? null : p.id; this.loadPeople(); } }, i.t("roster.edit")))),
      this.editingPerson === p.id ? h("tr", { class: "person-edit-row" }, h("td", { colspan: 8 }, this.personEditor(p))) : null]))));
  }

  /** What pages the person now (their own choices or the roster's): channels · events · quiet hours. */
  pagesText(notify) {
    const i = this.i18n;
    if (!notify) return "—";
    return [notify.channels.join(", ") || i.t("roster.default_channels"), notify.events.join(", ") || i.t("roster.all_events"),
      notify.quiet_hours ? i.t("roster.quiet", { hours: notify.quiet_hours }) : ""].filter(Boolean).join(" · ") + " ";
  }

  /** Edit an existing person: role, zones, shift, days, contact points; or delete them. Only changed fields go. */
  personEditor(p) {
    const i = this.i18n;
    const list = (text) => text.split(",").map((v) => v.trim()).filter(Boolean);
    const input = (key, value, attrs = {}) => h("input", { value: value ?? "", "data-testid": `edit-${key}`, ...attrs });
    const fields = {
      name: input("name", p.name, { required: true }),
      name_zh: input("name_zh", p.name_zh),
      role: h("select", { "data-testid": "edit-role" }, ROLES.map((r) => h("option", { value: r, selected: r === p.role }, i.term("role", r)))),
      username: input("username", p.username),
      shift: input("shift", p.shift, { pattern: "[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}" }),
      email: input("email", p.email, { type: "email" }),
      phone: input("phone", p.phone, { type: "tel" }),
      channels: input("channels", p.channels.join(", "), { placeholder: "smtp, wecom" }),
      events: input("events", p.events.join(", "), { placeholder: "severity:critical, subject:request" }),
      quiet_hours: input("quiet_hours", p.quiet_hours, { placeholder: "22:00-07:00" }),
    };
    const zones = (this.app.site?.zones || []).map((z) => h("label", { class: "check" },
      h("input", { type: "checkbox", value: z.id, checked: p.zones.includes(z.id), "data-testid": `edit-zone-${z.id}` }), i.zoneName(z)));
    const days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((d) => h("label", { class: "check" },
      h("input", { type: "checkbox", value: d, checked: p.days.includes(d), "data-testid": `edit-day-${d}` }), i.t(`day.${d}`)));
    const elastic = h("input", { type: "checkbox", checked: p.elastic, "data-testid": "edit-elastic" });
    const ticked = (labels) => labels.map((l) => l.querySelector("input")).filter((c) => c.checked).map((c) => c.value);
    const label = (key, el) => h("label", {}, i.t(`roster.${key}`), el);
    const remove = h("button", { class: "btn", type: "button", "data-testid": "person-delete", onclick: async () => {
      if (remove.dataset.confirm !== "1") {
        remove.dataset.confirm = "1";
        remove.textContent = i.t("roster.delete_confirm", { name: p.name });
        return;
      }
      try {
        await this.app.api.delete(`/api/people/${encodeURIComponent(p.id)}`);
        toast(i.t("roster.person_deleted", { name: p.name }), "info");
        this.editingPerson = null;
        this.loadPeople();
        this.load(this.day);
      } catch (err) {
        toast(errorText(i, err), "bad", 10000);
      }
    } }, i.t("roster.delete"));
    return h("form", { class: "person-editor", "data-testid": "person-editor", onsubmit: async (ev) => {
      ev.preventDefault();
      const next = { name: fields.name.value.trim(), name_zh: fields.name_zh.value.trim(), role: fields.role.value,
        username: fields.username.value.trim(), shift: fields.shift.value.trim(), email: fields.email.value.trim(),
        phone: fields.phone.value.trim(), channels: list(fields.channels.value), events: list(fields.events.value),
        quiet_hours: fields.quiet_hours.value.trim(), zones: ticked(zones), days: ticked(days), elastic: elastic.checked };
      const changed = Object.fromEntries(Object.entries(next).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(p[k])));
      if (!Object.keys(changed).length) {
        this.editingPerson = null;
        this.loadPeople();
        return;
      }
      try {
        await this.app.api.patch(`/api/people/${encodeURIComponent(p.id)}`, changed);
        toast(i.t("roster.person_saved", { name: next.name }), "info");
        this.editingPerson = null;
        this.loadPeople();
        this.load(this.day);
      } catch (err) {
        toast(errorText(i, err), "bad", 8000);
      }
    } },
    h("div", { class: "inline-form" }, label("name", fields.name), label("name_zh", fields.name_zh), h("label", {}, i.t("admin.role"), fields.role),
      label("username", fields.username), label("shift", fields.shift)),
    h("fieldset", {}, h("legend", {}, i.t("roster.zones")), zones, h("label", { class: "check" }, elastic, i.t("roster.elastic"))),
    h("fieldset", {}, h("legend", {}, i.t("roster.days")), days),
    h("fieldset", {}, h("legend", {}, i.t("roster.contact")), h("div", { class: "inline-form" },
      label("email", fields.email), label("phone", fields.phone), label("channels", fields.channels), label("events", fields.events),
      label("quiet_hours", fields.quiet_hours)),
    p.notify?.source === "own" ? h("div", { class: "muted", "data-testid": "edit-own-note" }, i.t("roster.pages_own_hint")) : null),
    h("div", { class: "inline-form" }, h("button", { class: "btn-primary", type: "submit", "data-testid": "person-save" }, i.t("roster.save")),
      h("button", { class: "btn-ghost", type: "button", onclick: () => { this.editingPerson = null; this.loadPeople(); } }, i.t("admin.cancel")),
      h("span", { class: "spacer" }), remove));
  }
}
