// Requests raised by people (hub/requests.py), phone first: tiles of what is open and overdue with the time
// to arrive, a form to raise one (a desk emergency in two taps), and the open requests, most urgent first.
import { h, fill, toast } from "../dom.js";
import { can, viewsFor } from "../roles.js";
import { errorText, RenderQueue, unavailable } from "./common.js";
import { ReportsPanel } from "./reports.js";

const KINDS = ["emergency", "wheelchair", "assist", "work_order", "repair", "complaint"];

/** Where a wheelchair request's chair is (the nearest station with a charged one, hub/requests.py), or null. */
export function stationLine(i, app, r) {
  if (!r || r.kind !== "wheelchair") return null;
  return h("div", { class: "offer-reason", "data-testid": "request-station", dataset: { tone: r.no_stock ? "bad" : "" } },
    r.no_stock ? i.t("requests.no_stock")
      : i.t("requests.station", { station: r.station, zone: i.zoneName(app.zone(r.station_zone)) || r.station_zone }));
}
const TOPICS = ["wait_time", "attitude", "environment", "billing", "facility", "other"];

export class RequestsView {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
    this.tiles = null;
    this.kpis = null;
  }

  mount(root) {
    const i = this.i18n;
    this.tilesEl = h("section", { class: "kpis", "data-testid": "request-tiles" });
    this.formEl = h("form", { class: "panel request-form", "data-testid": "request-form" });
    this.listEl = h("div", { "data-testid": "requests" });
    const view = h("div", { class: "requests", "data-testid": "view-requests" },
      h("div", { class: "panel-head" }, h("h2", {}, i.t("requests.title"))),
      this.tilesEl, can(this.app.me.role, "raiseRequest") ? this.formEl : null, this.listEl);
    root.append(view);
    // Floor managers read reports here: the operations view (where the others find them) is not theirs.
    const role = this.app.me.role;
    if (can(role, "readReports") && !viewsFor(role).includes("operations")) {
      this.reportsPanel = new ReportsPanel(this.app);
      this.reportsPanel.mount(view);
    }
    this.renderForm();
    this.queue = new RenderQueue({ all: () => this.render() });
    this.onChange = (ev) => {
      if (["requests", "dispatches"].includes(ev.detail.collection)) {
        this.queue.mark("all");
        this.refresh();
      }
    };
    this.app.store.addEventListener("change", this.onChange);
    this.refresh();
    this.render();
  }

  unmount() {
    this.app.store.removeEventListener("change", this.onChange);
    this.queue.cancel();
    clearTimeout(this.refreshTimer);
  }

  /** Tiles and KPIs come from the hub (it counts overdue against the targets), at most once a second. */
  refresh() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(async () => {
      try {
        [this.tiles, this.kpis] = await Promise.all([this.app.api.get("/api/requests/tiles"), this.app.api.get("/api/kpis")]);
      } catch { /* the tiles say "—" */ }
      this.renderTiles();
    }, 300);
  }

  renderTiles() {
    const i = this.i18n;
    const t = this.tiles || {};
    const k = this.kpis || {};
    const dur = (s) => (s === null || s === undefined ? "—" : i.duration(s));
    const night = k.dispatch_by_shift?.night || {};
    const tiles = KINDS.filter((kind) => t[kind]).map((kind) =>
      h("div", { class: "kpi", dataset: { kind, tone: t[kind].overdue ? "bad" : "" }, "data-testid": `tile-${kind}` },
        h("div", { class: "kpi-label" }, i.term("request_kind", kind)),
        h("div", { class: "kpi-value", "data-testid": "tile-open" }, i.number(t[kind].open)),
        h("div", { class: "kpi-sub", "data-testid": "tile-overdue" }, i.t("requests.tile_overdue", { n: i.number(t[kind].overdue) }))));
    tiles.push(h("div", { class: "kpi", "data-testid": "tile-time-to-arrive" },
      h("div", { class: "kpi-label" }, i.t("requests.time_to_arrive")),
      h("div", { class: "kpi-value", "data-testid": "time-to-arrive" }, dur(k.dispatch_time_to_arrive_s)),
      h("div", { class: "kpi-sub" }, `${i.t("requests.time_to_accept")} ${dur(k.dispatch_time_to_accept_s)} · ${i.t("requests.night", { d: dur(night.time_to_arrive_s) })}`)));
    tiles.push(h("div", { class: "kpi", "data-testid": "tile-night-timeouts" },
      h("div", { class: "kpi-label" }, i.t("requests.night_timeouts")),
      h("div", { class: "kpi-value" }, k.night_emergency_timeout_rate === null || k.night_emergency_timeout_rate === undefined
        ? "—" : i.percent(k.night_emergency_timeout_rate, 0))));
    fill(this.tilesEl, tiles);
  }

  renderForm() {
    const i = this.i18n;
    const zones = this.app.site?.zones || [];
    const field = (label, control) => h("label", { class: "field" }, h("span", {}, label), control);
    const kind = h("select", { name: "kind", "data-testid": "request-kind" },
      KINDS.map((k) => h("option", { value: k }, i.term("request_kind", k))));
    const zone = h("select", { name: "zone", "data-testid": "request-zone" }, zones.map((z) => h("option", { value: z.id }, i.zoneName(z))));
    const topic = h("select", { name: "topic", "data-testid": "request-topic" }, TOPICS.map((t) => h("option", { value: t }, i.term("topic", t))));
    const complex = h("input", { type: "checkbox", name: "complex" });
    const detail = h("textarea", { name: "detail", maxlength: "500", rows: "2", "data-testid": "request-detail" });
    const complaintOnly = h("div", { hidden: true }, field(i.t("requests.topic"), topic),
      h("label", { class: "field" }, complex, ` ${i.t("requests.complex")}`));
    kind.addEventListener("change", () => { complaintOnly.hidden = kind.value !== "complaint"; });
    const send = h("button", { class: "btn-primary", type: "submit", "data-testid": "request-send" }, i.t("requests.send"));
    fill(this.formEl, h("h3", {}, i.t("requests.raise")), field(i.t("requests.kind"), kind), field(i.t("requests.zone"), zone),
      complaintOnly, field(i.t("requests.detail"), detail), send);
    this.formEl.onsubmit = async (ev) => {
      ev.preventDefault();
      const body = { kind: kind.value, zone: zone.value, detail: detail.value.trim() };
      if (kind.value === "complaint") Object.assign(body, { topic: topic.value, complex: complex.checked });
      send.disabled = true;
      try {
        const made = await this.app.api.post("/api/requests", body);
        if (made && made.id !== undefined) this.app.store.apply({ type: "request.updated", data: made });
        toast(i.t("requests.sent", { id: made.id }), "ok");
        detail.value = "";
      } catch (err) {
        toast(errorText(i, err), "bad");
      } finally {
        send.disabled = false;
      }
    };
  }

  render() {
    const i = this.i18n;
    const { store } = this.app;
    if (store.unavailable.has("requests")) {
      fill(this.listEl, unavailable(i, "/api/requests"));
      return;
    }
    const open = store.list("requests", (r) => r.state !== "closed")
      .sort((a, b) => b.priority - a.priority || String(a.raised_at).localeCompare(String(b.raised_at)));
    fill(this.listEl, open.length ? open.map((r) => this.card(r))
      : h("div", { class: "panel empty", "data-testid": "no-requests" }, i.t("requests.none")));
  }

  card(r) {
    const i = this.i18n;
    const closeBox = r.kind === "complaint" && can(this.app.me.role, "closeComplaint") ? this.closeForm(r) : null;
    return h("article", { class: "offer", dataset: { kind: r.kind, state: r.state, requestId: r.id }, "data-testid": "request" },
      h("div", { style: "display:flex; justify-content:space-between; align-items:baseline; gap:8px" },
        h("div", { class: "offer-zone" }, `#${r.id} ${i.term("request_kind", r.kind)} · ${i.zoneName(this.app.zone(r.zone))}`),
        h("span", { class: "badge", dataset: { tone: r.overdue ? "bad" : r.state === "open" ? "warn" : "ok" }, "data-testid": "request-state" },
          r.overdue ? i.t("requests.overdue") : i.term("request_state", r.state))),
      stationLine(i, this.app, r),
      r.detail ? h("div", { class: "offer-reason" }, r.detail) : null,
      h("div", { class: "offer-meta" }, i.t("requests.due", { time: i.time(r.due_at) }),
        r.topic ? ` · ${i.term("topic", r.topic)}` : "", r.source === "qr" ? ` · ${i.t("requests.from_qr")}` : "",
        r.escalated_to ? h("b", { "data-testid": "request-escalated" }, ` · ${i.t("requests.escalated", { who: r.escalated_to })}`) : "",
        r.acked_by ? h("span", { "data-testid": "request-acked" }, ` · ${i.t("requests.acked", { who: r.acked_by })}`) : ""),
      closeBox);
  }

  closeForm(r) {
    const i = this.i18n;
    const answer = h("input", { type: "text", maxlength: "500", placeholder: i.t("requests.resolution"), "data-testid": "request-resolution" });
    const button = h("button", { class: "btn", type: "submit", "data-testid": "request-close" }, i.t("requests.close"));
    const form = h("form", { class: "offer-actions" }, answer, button);
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      try {
        const updated = await this.app.api.post(`/api/requests/${encodeURIComponent(r.id)}/close`, { resolution: answer.value });
        if (updated && updated.id !== undefined) this.app.store.apply({ type: "request.updated", data: updated });
      } catch (err) {
        toast(errorText(i, err), "bad");
        button.disabled = false;
      }
    };
    return form;
  }
}
