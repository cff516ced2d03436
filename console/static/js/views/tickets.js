// Maintenance: the ticket queue sorted by due time; a ticket's detail with the device's timeline and its
// telemetry from InfluxDB; accept, and resolve with a resolution code.
import { siteClock } from "../clock.js";
import { h, fill, toast } from "../dom.js";
import { lineChart } from "../charts.js";
import { toDate } from "../i18n.js";
import { can } from "../roles.js";
import { errorText, every, RenderQueue, rowsOf, rowsOrUnavailable, unavailable } from "./common.js";

// Resolution codes offered to the technician: the hub's list (hub/tickets.py RESOLUTION_CODES; a test keeps
// them equal). The hub validates them; a 400 shows its message.
export const RESOLUTION_CODES = ["repaired", "replaced_part", "restarted", "cleared_jam", "refilled", "no_fault_found", "other"];
const SOON_MS = 30 * 60_000;
const HISTORY_HOURS = 6;
const HIDDEN_FIELDS = new Set(["seq", "ts", "time"]);
const MAX_CHARTS = 8;
const HISTORY_REFRESH_MS = 30_000;

/**
 * One timeline item as {at, kind, what, severity, state, note}. The hub sends
 * {at, what: "alarm"|"ticket"|"event", alarm|ticket|data}; flat items ({ts, kind, type}) are read too.
 */
export function timelineEntry(e) {
  const kind = e.what && typeof e.what === "string" && ["alarm", "ticket", "event"].includes(e.what) ? e.what : (e.kind ?? "");
  const at = e.at ?? e.ts ?? e.time ?? e.raised_at ?? e.opened_at;
  if (kind === "alarm" && e.alarm) {
    return { at, kind, what: e.alarm.type, severity: e.alarm.severity, state: e.alarm.state, note: e.alarm.count > 1 ? `×${e.alarm.count}` : "" };
  }
  if (kind === "ticket" && e.ticket) {
    return { at, kind, what: e.ticket.fault, state: e.ticket.state, note: e.ticket.assignee || "" };
  }
  if (kind === "event" && e.data) return { at, kind, what: e.data.state, note: (e.data.faults || []).join(", ") };
  return { at, kind, what: e.type ?? e.event ?? e.fault ?? "", severity: e.severity, state: e.state, note: e.text ?? e.message };
}

export class TicketsView {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
    this.selected = null;
    this.showResolved = false;
    this.stops = [];
    this.queue = new RenderQueue({ table: () => this.renderTable(), head: () => this.renderDetailHead() });
  }

  mount(root) {
    const i = this.i18n;
    this.tableEl = h("div", { class: "scroll", style: "max-height: calc(100vh - 150px)" });
    this.detailEl = h("div", { "data-testid": "ticket-detail" }, h("div", { class: "empty" }, i.t("tickets.pick")));
    this.countEl = h("span", { class: "badge" });
    const check = (label, testid, onchange) => h("label", { style: "flex-direction: row; align-items: center; gap: 6px" },
      h("input", { type: "checkbox", "data-testid": testid, onchange: (ev) => { onchange(ev.target.checked); this.renderTable(); } }), label);
    const toggle = h("span", { style: "display:flex; gap:14px" },
      check(i.t("tickets.only_mine"), "only-mine", (v) => { this.onlyMine = v; }),
      check(i.t("tickets.show_resolved"), "show-resolved", (v) => { this.showResolved = v; }));
    root.append(h("div", { class: "tickets", "data-testid": "view-tickets" },
      h("section", { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, i.t("tickets.title")), this.countEl, h("span", { class: "spacer" }), toggle),
        this.tableEl),
      h("section", { class: "panel" }, this.detailEl)));
    this.onChange = (ev) => {
      const { collection, item } = ev.detail;
      if (collection === "tickets") {
        this.queue.mark("table");
        if (item && this.selected && String(item.id) === String(this.selected)) this.queue.mark("head");
      } else if (collection === "devices") this.queue.mark("head");
      else if (collection === "alarms" && this.selected) this.loadDetail(false);
    };
    this.app.store.addEventListener("change", this.onChange);
    this.stops.push(every(30_000, () => this.renderTable()));
    // New readings keep arriving in InfluxDB: refresh the selected ticket's telemetry now and then.
    this.stops.push(every(HISTORY_REFRESH_MS, () => this.selected && this.loadDetail(true)));
  }

  unmount() {
    this.app.store.removeEventListener("change", this.onChange);
    for (const stop of this.stops) stop();
    this.queue.cancel();
  }

  dueClass(t) {
    if (t.state === "resolved") return "";
    const due = toDate(t.due_at)?.getTime();
    if (!due) return "";
    if (due < siteClock.now()) return "overdue";
    return due - siteClock.now() < SOON_MS ? "soon" : "";
  }

  dueText(t) {
    const i = this.i18n;
    const due = toDate(t.due_at)?.getTime();
    if (!due) return "—";
    if (t.state === "resolved") return i.dateTime(t.due_at);
    const delta = (due - siteClock.now()) / 1000;
    return delta < 0 ? i.t("tickets.overdue_by", { d: i.duration(-delta) }) : i.t("tickets.due_in", { d: i.duration(delta) });
  }

  renderTable() {
    const i = this.i18n;
    const { store } = this.app;
    const me = this.app.me.username;
    const tickets = rowsOrUnavailable(i, store, "tickets", this.tableEl,
      (t) => (this.showResolved || t.state !== "resolved") && (!this.onlyMine || t.assignee === me))
      ?.sort((a, b) => (toDate(a.due_at)?.getTime() ?? Infinity) - (toDate(b.due_at)?.getTime() ?? Infinity));
    if (!tickets) return;
    const open = store.list("tickets", (t) => t.state !== "resolved").length;
    this.countEl.textContent = i.t("tickets.open_count", { n: open });
    if (!tickets.length) {
      fill(this.tableEl, h("div", { class: "empty" }, i.t("tickets.none")));
      return;
    }
    fill(this.tableEl, h("table", {},
      h("thead", {}, h("tr", {}, ["due", "device", "fault", "zone", "state", "assignee", "opened"].map((c) => h("th", {}, i.t(`tickets.col.${c}`))))),
      h("tbody", {}, tickets.map((t) => {
        const device = store.devices.get(String(t.device_id));
        return h("tr", {
          class: `clickable${String(t.id) === String(this.selected) ? " selected" : ""}`,
          dataset: { due: this.dueClass(t), ticketId: t.id }, "data-testid": "ticket-row",
          onclick: () => this.select(t.id),
        },
        h("td", { class: "due num" }, this.dueText(t),
          t.sla_breached ? h("span", { class: "badge", dataset: { tone: "bad" }, style: "margin-left:6px" }, i.t("tickets.sla_breached")) : null),
        h("td", {}, t.device_id),
        h("td", {}, i.term("fault", t.fault)),
        h("td", {}, i.zoneName(this.app.zone(device?.zone ?? t.zone))),
        h("td", {}, h("span", { class: "badge", dataset: { tone: t.state === "open" ? "warn" : t.state === "accepted" ? "" : "ok" } }, i.term("ticket_state", t.state))),
        h("td", { class: t.assignee === me ? "" : "muted" }, t.assignee === me ? h("b", {}, t.assignee) : (t.assignee || "—")),
        h("td", { class: "num muted" }, i.dateTime(t.opened_at)));
      }))));
  }

  select(id) {
    this.selected = id;
    this.renderTable();
    this.timeline = undefined;
    this.history = undefined;
    this.headEl = h("div", {});
    this.timelineEl = h("div", {});
    this.historyEl = h("div", {});
    fill(this.detailEl, this.headEl,
      h("h2", { style: "margin: 10px 0 6px" }, this.i18n.t("tickets.timeline")), this.timelineEl,
      h("h2", { style: "margin: 12px 0 6px" }, this.i18n.t("tickets.telemetry", { h: HISTORY_HOURS })), this.historyEl);
    this.renderDetailHead();
    this.loadDetail(true);
  }

  renderDetailHead() {
    if (!this.selected || !this.headEl) return;
    const i = this.i18n;
    const t = this.app.store.tickets.get(String(this.selected));
    if (!t) return;
    const device = this.app.store.devices.get(String(t.device_id)) || {};
    const mayWork = can(this.app.me.role, "workTickets");
    const code = h("select", { "data-testid": "resolution-code" },
      h("option", { value: "" }, i.t("tickets.pick_code")),
      RESOLUTION_CODES.map((c) => h("option", { value: c }, i.term("resolution", c))));
    // A live update redraws this head; the code the user already picked must survive it.
    if (this.pickedCode?.ticket === t.id) code.value = this.pickedCode.code;
    const resolve = h("button", { class: "btn-primary", "data-testid": "ticket-resolve", disabled: !code.value, onclick: () =>
      this.act(resolve, `/api/tickets/${encodeURIComponent(t.id)}/resolve`, { code: code.value }) }, i.t("tickets.resolve"));
    code.addEventListener("change", () => {
      this.pickedCode = { ticket: t.id, code: code.value };
      resolve.disabled = !code.value;
    });
    fill(this.headEl,
      h("div", { class: "panel-head" }, h("h3", { style: "margin:0" }, `${i.term("fault", t.fault)} · ${t.device_id}`),
        h("span", { class: "spacer" }), h("span", { class: "badge", "data-testid": "ticket-state" }, i.term("ticket_state", t.state))),
      h("div", { class: "zone-facts" },
        h("span", {}, i.t("tickets.col.zone"), " ", h("b", {}, i.zoneName(this.app.zone(device.zone ?? t.zone)))),
        h("span", {}, i.t("tickets.device_state"), " ", h("b", {}, i.term("device_state", device.state))),
        h("span", {}, i.t("tickets.col.due"), " ", h("b", {}, this.dueText(t))),
        h("span", {}, i.t("tickets.col.assignee"), " ", h("b", {}, t.assignee || "—"))),
      !mayWork || t.state === "resolved" ? (t.state === "resolved"
        ? h("div", { class: "muted" }, i.t("tickets.resolved_at", { time: i.dateTime(t.resolved_at) }), t.resolution ? ` · ${i.term("resolution", t.resolution)}` : "")
        : null)
        : h("div", { class: "detail-actions" },
          t.state === "open" ? h("button", { class: "btn-primary", "data-testid": "ticket-accept", onclick: (ev) =>
            this.act(ev.target, `/api/tickets/${encodeURIComponent(t.id)}/accept`) }, i.t("tickets.accept")) : null,
          h("label", {}, i.t("tickets.code"), code), resolve));
  }

  async act(button, path, body) {
    button.disabled = true;
    try {
      const updated = await this.app.api.post(path, body || {});
      if (updated && updated.id !== undefined) this.app.store.apply({ type: "ticket.updated", data: updated });
    } catch (err) {
      toast(errorText(this.i18n, err), "bad");
      button.disabled = false;
    }
  }

  async loadDetail(withHistory) {
    const t = this.app.store.tickets.get(String(this.selected));
    if (!t) return;
    const id = encodeURIComponent(t.device_id);
    const ticketId = this.selected;
    const since = new Date(siteClock.now() - HISTORY_HOURS * 3600e3).toISOString();
    const [timeline, history] = await Promise.allSettled([
      this.app.api.get(`/api/devices/${id}/timeline`),
      withHistory ? this.app.api.get(`/api/devices/${id}/history?since=${encodeURIComponent(since)}`) : Promise.resolve(null),
    ]);
    if (ticketId !== this.selected) return;
    this.renderTimeline(timeline.status === "fulfilled" ? rowsOf(timeline.value, "timeline", "events") : timeline.reason);
    if (withHistory) this.renderHistory(history.status === "fulfilled" ? rowsOf(history.value, "history", "readings") : history.reason);
  }

  renderTimeline(items) {
    const i = this.i18n;
    if (items instanceof Error) {
      fill(this.timelineEl, items.unavailable ? unavailable(i, "/api/devices/{id}/timeline") : h("div", { class: "error-text" }, errorText(i, items)));
      return;
    }
    const sorted = items.map(timelineEntry).sort((a, b) => (toDate(b.at)?.getTime() ?? 0) - (toDate(a.at)?.getTime() ?? 0));
    fill(this.timelineEl, sorted.length ? h("ul", { class: "timeline", "data-testid": "timeline" }, sorted.map((e) => {
      const extra = [e.severity && i.term("severity", e.severity), e.state && i.term(`${e.kind}_state`, e.state), e.note]
        .filter(Boolean).join(" · ");
      return h("li", { dataset: { kind: e.kind } }, h("time", {}, i.dateTime(e.at)),
        h("span", {}, e.kind ? h("span", { class: "badge", style: "margin-right:6px" }, i.term("timeline", e.kind)) : null,
          e.kind === "ticket" ? i.term("fault", e.what) : e.kind === "event" ? i.term("device_state", e.what) : i.term("alarm", e.what),
          extra ? h("span", { class: "muted" }, ` · ${extra}`) : null));
    })) : h("div", { class: "empty" }, i.t("tickets.no_timeline")));
  }

  renderHistory(rows) {
    const i = this.i18n;
    if (rows instanceof Error) {
      fill(this.historyEl, rows.unavailable || rows.status === 503 ? unavailable(i, "/api/devices/{id}/history") : h("div", { class: "error-text" }, errorText(i, rows)));
      return;
    }
    const fields = new Map();
    for (const r of rows) {
      const t = toDate(r.ts ?? r.time)?.getTime();
      if (!t) continue;
      for (const [k, v] of Object.entries(r)) {
        if (HIDDEN_FIELDS.has(k) || typeof v !== "number" || !Number.isFinite(v)) continue;
        if (!fields.has(k)) fields.set(k, []);
        fields.get(k).push({ t, v });
      }
    }
    // A field with one reading so far shows its value; two or more draw a line.
    const charts = [...fields.entries()].slice(0, MAX_CHARTS);
    fill(this.historyEl, charts.length ? h("div", { class: "small-charts", "data-testid": "telemetry" }, charts.map(([name, pts]) => {
      pts.sort((a, b) => a.t - b.t);
      const last = pts[pts.length - 1];
      return h("figure", { dataset: { field: name } },
        h("figcaption", {}, i.term("field", name), " ", h("b", { class: "num" }, i.number(last.v, Number.isInteger(last.v) ? 0 : 1))),
        pts.length > 1 ? lineChart({ points: pts, i18n: i }) : h("div", { class: "faint" }, i.t("tickets.one_reading", { time: i.time(last.t) })));
    }))
      : h("div", { class: "empty" }, i.t("tickets.no_telemetry")));
  }
}
