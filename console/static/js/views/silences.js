// Silences and maintenance windows (issue #15 item 5; hub/silences.py): while one is in force, an alarm it covers is
// recorded but pages nobody and opens no ticket, and a device it covers whole shows "in maintenance". One form
// (a device, a zone or an alarm type; one-off for a while, or weekly e.g. Sunday 02:00-04:00), a reason, and the
// windows in force, coming up and ended lately (who lifted them). Everyone may read; the form and "lift" are for
// silences.write.
import { siteClock } from "../clock.js";
import { h, fill, toast } from "../dom.js";
import { can } from "../roles.js";
import { errorText, every } from "./common.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const ONE_OFF_HOURS = [1, 2, 4, 8, 24, 72, 168]; // how long a one-off window lasts
const WEEKLY_WEEKS = [4, 13, 26, 52]; // until when a weekly window recurs (the hub allows at most a year)
const SCOPES = { device: "device_ids", zone: "zones", type: "types" };

/** Epoch ms of a wall-clock time ("YYYY-MM-DDTHH:MM") in the site's time zone, whatever the browser's is. */
export function siteWallTime(text, timeZone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(text || "");
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  const offset = (at) => {
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone, hourCycle: "h23", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).formatToParts(new Date(at)).map((p) => [p.type, p.value]));
    return Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute) - Math.floor(at / 60000) * 60000;
  };
  const first = wall - offset(wall);
  return wall - offset(first); // again at the guess: right across a daylight-saving change
}

export class SilencesView {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
  }

  mount(root) {
    const i = this.i18n;
    this.lists = { active: h("div", { "data-testid": "silences-active" }), upcoming: h("div", { "data-testid": "silences-upcoming" }),
      ended: h("div", { "data-testid": "silences-ended" }) };
    const writer = can(this.app.me.role, "writeSilences");
    root.append(h("div", { class: "silences", "data-testid": "view-silences" },
      writer ? h("section", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", {}, i.t("silences.new"))), this.form()) : null,
      ["active", "upcoming", "ended"].map((k) => h("section", { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, i.t(`silences.${k}`))), this.lists[k]))));
    this.stop = every(30_000, () => this.load()); // windows open and close with time
  }

  unmount() {
    this.stop?.();
  }

  form() {
    const i = this.i18n;
    const zones = this.app.site?.zones || [];
    const scope = h("select", { "data-testid": "silence-scope", onchange: () => showTarget() },
      Object.keys(SCOPES).map((s) => h("option", { value: s }, i.t(`silences.scope_${s}`))));
    const targets = {
      device: h("select", { "data-testid": "silence-device" }),
      zone: h("select", { "data-testid": "silence-zone", hidden: true }, zones.map((z) => h("option", { value: z.id }, i.zoneName(z)))),
      type: h("select", { "data-testid": "silence-type", hidden: true }),
    };
    this.fillChoices(targets.device, targets.type);
    const showTarget = () => { for (const [k, el] of Object.entries(targets)) el.hidden = k !== scope.value; };
    const repeat = h("select", { "data-testid": "silence-repeat", onchange: () => showRepeat() },
      h("option", { value: "once" }, i.t("silences.once")), h("option", { value: "weekly" }, i.t("silences.weekly")));
    // One-off: from now (or a site-local start) for a while.
    const start = h("input", { type: "datetime-local", "data-testid": "silence-start", title: i.t("silences.start_hint") });
    const hours = h("select", { "data-testid": "silence-hours" },
      ONE_OFF_HOURS.map((n) => h("option", { value: n, selected: n === 2 }, n < 24 ? i.t("silences.for_hours", { n }) : i.t("silences.for_days", { n: n / 24 }))));
    const once = h("div", { class: "inline-form" }, h("label", {}, i.t("silences.starts"), start), h("label", {}, i.t("silences.lasts"), hours));
    // Weekly: days and a site-local time range, until an expiry.
    const days = DAYS.map((d) => h("label", { class: "check" }, h("input", { type: "checkbox", value: d, "data-testid": `silence-day-${d}` }), i.t(`day.${d}`)));
    const from = h("input", { type: "time", value: "02:00", "data-testid": "silence-from" });
    const to = h("input", { type: "time", value: "04:00", "data-testid": "silence-to" });
    const weeks = h("select", { "data-testid": "silence-weeks" }, WEEKLY_WEEKS.map((n) => h("option", { value: n }, i.t("silences.for_weeks", { n }))));
    const weekly = h("div", { class: "inline-form", hidden: true }, days, h("label", {}, i.t("silences.from"), from),
      h("label", {}, i.t("silences.to"), to), h("label", {}, i.t("silences.until"), weeks));
    const showRepeat = () => { once.hidden = repeat.value !== "once"; weekly.hidden = repeat.value !== "weekly"; };
    const reason = h("input", { required: true, maxlength: 500, placeholder: i.t("silences.reason"), "data-testid": "silence-reason" });
    const submit = h("button", { class: "btn-primary", type: "submit", "data-testid": "silence-create" }, i.t("silences.create"));
    return h("form", { class: "silence-form", "data-testid": "silence-form", onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { [SCOPES[scope.value]]: [targets[scope.value].value], reason: reason.value.trim() };
      const tz = this.app.site?.timezone;
      if (repeat.value === "once") {
        const at = start.value ? siteWallTime(start.value, tz) : null;
        if (at !== null) body.starts_at = new Date(at).toISOString();
        body.ends_at = new Date((at ?? siteClock.now()) + Number(hours.value) * 3600_000).toISOString();
      } else {
        body.weekly = { days: days.map((l) => l.querySelector("input")).filter((c) => c.checked).map((c) => c.value),
          start: from.value, end: to.value === "00:00" ? "24:00" : to.value };
        body.expires_at = new Date(siteClock.now() + Number(weeks.value) * 7 * 86400_000).toISOString();
      }
      submit.disabled = true;
      try {
        await this.app.api.post("/api/silences", body);
        toast(i.t("silences.created"), "info");
        reason.value = "";
        await this.load();
      } catch (err) {
        toast(errorText(i, err), "bad", 8000);
      } finally {
        submit.disabled = false;
      }
    } }, h("div", { class: "inline-form" }, scope, Object.values(targets), repeat), once, weekly,
    h("div", { class: "inline-form" }, reason, submit));
  }

  /** The site's devices (kiosk-2 before kiosk-10) and the hub's alarm types (its rules), to choose from. */
  async fillChoices(deviceSelect, typeSelect) {
    const i = this.i18n;
    try {
      const [devices, rules] = await Promise.all([this.app.api.get("/api/devices"), this.app.api.get("/api/rules")]);
      fill(deviceSelect, devices.map((d) => d.id).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
        .map((id) => h("option", { value: id }, id)));
      fill(typeSelect, Object.keys(rules?.rules || {}).map((t) => [t, i.term("alarm", t)])
        .sort((a, b) => a[1].localeCompare(b[1], i.locale)).map(([t, name]) => h("option", { value: t }, name)));
    } catch (err) {
      toast(errorText(i, err), "bad", 8000);
    }
  }

  async load() {
    const i = this.i18n;
    try {
      const [current, ended] = await Promise.all([this.app.api.get("/api/silences"), this.app.api.get("/api/silences?ended=true")]);
      this.render("active", current.filter((s) => s.active));
      this.render("upcoming", current.filter((s) => !s.active));
      this.render("ended", ended);
    } catch (err) {
      fill(this.lists.active, h("div", { class: "error-text" }, errorText(i, err)));
    }
  }

  /** What a silence covers: "kiosk-02", "Registration hall", "Paper out". */
  what(s) {
    const i = this.i18n;
    return [...s.device_ids, ...s.zones.map((z) => i.zoneName(this.app.zone(z))), ...s.kinds.map((k) => i.term("kind", k)),
      ...s.types.map((t) => i.term("alarm", t))].join(", ");
  }

  /** When: "Sun 02:00–04:00 weekly, until 12-24 00:00" or "11-24 10:00 – 12:00". */
  when(s) {
    const i = this.i18n;
    if (s.weekly) {
      return i.t("silences.weekly_text", { days: s.weekly.days.map((d) => i.t(`day.${d}`)).join(" "), start: s.weekly.start,
        end: s.weekly.end, until: i.dateTime(s.expires_at) });
    }
    return `${i.dateTime(s.starts_at)} – ${i.dateTime(s.ends_at || s.expires_at)}`;
  }

  render(which, list) {
    const i = this.i18n;
    const writer = can(this.app.me.role, "writeSilences");
    if (!list.length) {
      fill(this.lists[which], h("div", { class: "empty" }, i.t("silences.none")));
      return;
    }
    fill(this.lists[which], list.map((s) => h("div", { class: "silence", "data-testid": "silence", "data-silence": s.id, dataset: { state: which } },
      h("div", { class: "silence-what" }, h("b", {}, this.what(s)), " ", h("span", { class: "badge", dataset: { tone: which === "active" ? "warn" : "" } }, i.t(`silences.state_${which}`))),
      h("div", { class: "silence-when", "data-testid": "silence-when" }, this.when(s)),
      h("div", { class: "muted" }, `${s.reason} · ${i.t("silences.by", { who: s.author, at: i.dateTime(s.created_at) })}`),
      s.lifted_by ? h("div", { class: "muted", "data-testid": "silence-lifted" }, i.t("silences.lifted_by", { who: s.lifted_by, at: i.dateTime(s.lifted_at) })) : null,
      writer && which !== "ended" ? h("button", { class: "btn", type: "button", "data-testid": "silence-lift", onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await this.app.api.delete(`/api/silences/${s.id}`);
          toast(i.t("silences.lifted"), "info");
        } catch (err) {
          toast(errorText(i, err), "bad", 8000);
        }
        await this.load();
      } }, i.t("silences.lift")) : null)));
  }
}
