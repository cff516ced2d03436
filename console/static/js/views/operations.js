// Operations centre: KPI tiles, the live floor plan, active alarms with acknowledge, the device health grid,
// the hospital systems, device reliability by period, today's wheelchair supply and demand,
// and the selected zone's occupancy forecast and staffing plan against staff on duty.
import { siteClock } from "../clock.js";
import { h, fill, toast } from "../dom.js";
import { forecastChart, lineChart, sparkline, staffingChart, supplyDemandChart } from "../charts.js";
import { FloorPlan, levelOf } from "../floorplan.js";
import { ScreensPanel } from "./screens.js";
import { PlanControls } from "./plan.js";
import { ReportsPanel } from "./reports.js";
import { can } from "../roles.js";
import {
  byId, errorText, every, RenderQueue, rowsOf, rowsOrUnavailable, SEVERITY_ORDER, siteDate, unavailable,
} from "./common.js";

const KPI_REFRESH_MS = 10_000;
const ZONE_REFRESH_MS = 5 * 60_000;
const SYSTEMS_REFRESH_MS = 10_000;
const RELIABILITY_REFRESH_MS = 5 * 60_000;
const ACTUALS_HOURS = 8;
const RELIABILITY_PERIODS = ["day", "week", "month"];
// Rows drawn in the alarm list (most severe first); the rest is counted. Bounds the cost of an alarm storm.
const MAX_ALARM_ROWS = 60;

export class OperationsView {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
    this.stops = [];
    this.selected = null;
    this.fresh = new Set();
    this.alarmRows = new Map();
    this.kpis = null;
    this.kpiError = null;
    this.period = "month";  // the reliability tile's period
    this.queue = new RenderQueue({
      alarms: () => this.renderAlarms(),
      plan: () => this.renderPlan(),
      facts: () => this.renderZoneFacts(),
      devices: () => this.renderDevices(),
    });
  }

  mount(root) {
    const t = (k, v) => this.i18n.t(k, v);
    this.kpiEl = h("section", { class: "kpis", "data-testid": "kpis", "aria-label": t("kpi.title") });
    this.planEl = h("div", { "data-testid": "floorplan" });
    this.alarmsEl = h("div", { class: "alarms panel-body", "data-testid": "alarms" });
    this.alarmCount = h("span", { class: "badge" });
    this.devicesEl = h("div", { class: "panel-body", "data-testid": "devices" });
    this.deviceCount = h("span", { class: "muted" });
    this.zoneEl = h("div", { class: "panel-body", "data-testid": "zone-detail" });
    this.zoneTitle = h("h2", {}, t("zone.title"));
    this.systemsEl = h("div", { class: "systems panel-body", "data-testid": "systems" });
    this.reliabilityEl = h("div", { class: "panel-body", "data-testid": "reliability" });
    this.reliabilityPeriod = h("div", { class: "segs", role: "group", "aria-label": t("reliability.period") },
      RELIABILITY_PERIODS.map((p) => h("button", { class: "seg", type: "button", "data-testid": `reliability-${p}`,
        "aria-pressed": String(p === this.period), onclick: () => this.setPeriod(p) }, t(`reliability.period.${p}`))));
    this.chairsEl = h("div", { class: "panel-body", "data-testid": "wheelchairs" });
    const panel = (title, body, ...extra) => h("section", { class: "panel" },
      h("div", { class: "panel-head" }, h("h2", {}, title), ...extra), body);
    // Three columns on the wall (the floor and its zone; alarms, devices and systems; reliability, screens
    // and reports), each panel scrolling inside itself, so nothing falls below a 1920x1080 screen.
    root.append(h("div", { class: "ops", "data-testid": "view-operations" },
      this.kpiEl,
      h("div", { class: "ops-col ops-main" },
        (this.planPanel = h("section", { class: "panel plan" },
          (this.planHead = h("div", { class: "panel-head" }, h("h2", {}, t("plan.title")), h("span", { class: "spacer" }))),
          this.planEl)),
        h("section", { class: "panel zone" }, h("div", { class: "panel-head" }, this.zoneTitle), this.zoneEl),
        panel(t("chairs.title"), this.chairsEl)),
      h("div", { class: "ops-col ops-mid" },
        panel(t("alarms.title"), this.alarmsEl, this.alarmCount),
        panel(t("devices.title"), this.devicesEl, h("span", { class: "spacer" }), this.deviceCount),
        panel(t("systems.title"), this.systemsEl)),
      (this.sideEl = h("div", { class: "ops-col ops-side" },
        panel(t("reliability.title"), this.reliabilityEl, h("span", { class: "spacer" }), this.reliabilityPeriod)))));
    this.screensPanel = new ScreensPanel(this.app);
    this.screensPanel.mount(this.sideEl);
    if (can(this.app.me?.role, "readReports")) {
      this.reportsPanel = new ReportsPanel(this.app);
      this.reportsPanel.mount(this.sideEl);
    }

    const siteZones = this.app.site?.zones || [];
    if (siteZones.length) {
      this.plan = new FloorPlan(siteZones, this.i18n, (id) => this.selectZone(id), this.app.site?.floor_plans);
      this.planControls = new PlanControls(this.app, this.plan, () => this.queue.mark("plan"));
      this.planHead.append(this.planControls.legendEl);
      this.planEl.append(this.planControls.el, this.plan.el);
      this.planControls.start();
    } else {
      this.planEl.append(unavailable(this.i18n, "/api/site"));
    }
    this.onChange = (ev) => this.changed(ev.detail);
    this.app.store.addEventListener("change", this.onChange);
    this.stops.push(every(KPI_REFRESH_MS, () => this.refreshKpis()));
    this.stops.push(every(ZONE_REFRESH_MS, () => this.selected && this.loadZone()));
    this.stops.push(every(SYSTEMS_REFRESH_MS, () => this.refreshSystems()));
    this.stops.push(every(RELIABILITY_REFRESH_MS, () => this.refreshReliability()));
    this.renderAlarms();
    this.renderDevices();
    this.renderPlan();
    this.renderKpis();
    this.refreshSystems();
    this.refreshReliability();
  }

  unmount() {
    this.app.store.removeEventListener("change", this.onChange);
    for (const stop of this.stops) stop();
    this.screensPanel?.unmount();
    this.planControls?.stop();
    this.reportsPanel?.unmount();
    clearTimeout(this.kpiTimer);
    clearTimeout(this.systemsTimer);
    this.queue.cancel();
  }

  changed({ collection, type, item }) {
    if (collection === "alarms") {
      if (type === "alarm.raised" && item) {
        this.fresh.add(String(item.id));
        setTimeout(() => this.fresh.delete(String(item.id)), 3000);
      }
      this.queue.mark("alarms");
      if (String(item?.source || "").startsWith("system:")) {
        clearTimeout(this.systemsTimer);
        this.systemsTimer = setTimeout(() => this.refreshSystems(), 300);
      }
    } else if (collection === "zones") {
      this.queue.mark("plan");
      if (this.selected && (!item || item.id === this.selected)) this.queue.mark("facts");
    } else if (collection === "devices" || collection === "agents") {
      this.queue.mark("devices");
    } else if (collection === "forecast.updated") {
      if (this.selected) this.loadZone();
    }
    // KPIs follow alarms, tickets and dispatches: refresh soon, at most once a second.
    if (["alarms", "tickets", "dispatches", "devices", "zones"].includes(collection)) {
      clearTimeout(this.kpiTimer);
      this.kpiTimer = setTimeout(() => this.refreshKpis(), 1000);
    }
  }

  // -- KPIs ----------------------------------------------------------------------------------------

  async refreshKpis() {
    // Service levels, wheelchairs and satisfaction are tiles of their own: a hub without those routes loses
    // only them.
    const [kpis, levels, chairs, sat] = await Promise.allSettled(
      ["/api/kpis", "/api/service-levels", "/api/wheelchairs", `/api/satisfaction?date=${siteDate(this.app.site?.timezone)}`]
        .map((path) => this.app.api.get(path)));
    this.kpis = kpis.status === "fulfilled" ? kpis.value : null;
    this.kpiError = kpis.status === "fulfilled" ? null : kpis.reason;
    this.levels = levels.status === "fulfilled" ? levels.value : null;
    this.chairs = chairs.status === "fulfilled" ? chairs.value : null;
    this.sat = sat.status === "fulfilled" ? sat.value : null;
    this.renderKpis();
    this.renderChairs();
    this.queue.mark("facts");
  }

  /** When /api/kpis is missing, count what the console itself knows, and say so. */
  localKpis() {
    const { store } = this.app;
    const zones = store.list("zones");
    const devices = store.list("devices");
    const faulted = devices.filter((d) => d.state === "fault").length;
    return {
      waiting_now: zones.reduce((n, z) => n + (+z.waiting || 0), 0),
      devices_faulted: faulted,
      fault_rate: devices.length ? faulted / devices.length : undefined,
      open_tickets: store.list("tickets", (x) => x.state !== "resolved").length,
      open_dispatches: store.list("dispatches", (x) => ["offered", "accepted", "arrived"].includes(x.state)).length,
    };
  }

  renderKpis() {
    const i = this.i18n;
    const k = this.kpis || (this.kpiError && this.kpiError.status !== 401 ? this.localKpis() : {});
    const tiles = [
      ["waiting_now", i.number(k.waiting_now), k.waiting_now > 0 ? "" : ""],
      ["avg_wait_s", i.duration(k.avg_wait_s), k.avg_wait_s > 1800 ? "warn" : ""],
      ["devices_faulted", i.number(k.devices_faulted), k.devices_faulted > 0 ? "bad" : ""],
      ["fault_rate", i.percent(k.fault_rate), k.fault_rate > (k.fault_rate_target ?? 0.05) ? "warn" : "",
        k.fault_rate_target !== undefined ? i.t("kpi.fault_target", { p: i.percent(k.fault_rate_target, 0) }) : ""],
      ["open_tickets", i.number(k.open_tickets), "", k.mttr_s !== undefined ? i.t("kpi.mttr", { d: i.duration(k.mttr_s) }) : ""],
      ["sla_breaches", i.number(k.sla_breaches), k.sla_breaches > 0 ? "bad" : "",
        k.active_alarms !== undefined ? i.t("kpi.active_alarms", { n: i.number(k.active_alarms) }) : ""],
      ["open_dispatches", i.number(k.open_dispatches), "", k.mtta_s !== undefined ? i.t("kpi.mtta", { d: i.duration(k.mtta_s) }) : ""],
    ];
    const sl = this.levels?.site;
    if (sl) {
      tiles.push(["service_level", i.percent(sl.service_level ?? undefined),
        sl.service_level !== null && sl.service_level < this.levels.target_share ? "warn" : "",
        i.t("kpi.service_sub", { ns: i.percent(sl.no_show_rate ?? undefined), ab: i.percent(sl.abandonment_rate ?? undefined) })]);
    }
    const wc = this.chairs?.site;
    if (wc) {
      tiles.push(["wheelchairs", i.t("kpi.wheelchairs_value", { c: i.number(wc.charged), s: i.number(wc.slots) }),
        wc.low_stock > 0 ? "bad" : "",
        i.t("kpi.wheelchairs_sub", { d: i.number(wc.demand_today),
          f: wc.forecast_today === null ? "–" : i.number(wc.forecast_today) })]);
    }
    const st = this.sat?.site;
    if (st) {
      // Today's site score (the mean of the terminals' presses, 0-100) against the rule's target; open
      // corrective actions of satisfaction_low make it red.
      const open = (this.sat.actions || []).length;
      tiles.push(["satisfaction", st.score === null ? "–" : i.t("kpi.satisfaction_value", { s: i.number(st.score, 1) }),
        open > 0 ? "bad" : st.score !== null && st.score < (this.sat.target ?? 80) ? "warn" : "",
        i.t("kpi.satisfaction_sub", { n: i.number(st.ratings), a: i.number(open) })]);
    }
    fill(this.kpiEl, tiles.map(([key, value, tone, sub]) =>
      h("div", { class: "kpi", dataset: { kpi: key, tone: tone || "" } },
        h("div", { class: "kpi-label" }, i.t(`kpi.${key}`)),
        h("div", { class: "kpi-value", "data-testid": `kpi-${key}` }, value),
        h("div", { class: "kpi-sub" }, sub || (this.kpiError && !this.kpis ? i.t("kpi.local") : "\u00a0")))));
  }

  // -- the hospital's systems and device reliability -----------------------------------------------

  async refreshSystems() {
    try {
      this.systems = await this.app.api.get("/api/systems");
      this.systemsError = null;
    } catch (err) {
      this.systemsError = err;
    }
    this.renderSystems();
  }

  renderSystems() {
    const i = this.i18n;
    if (this.systemsError && !this.systems) {
      fill(this.systemsEl, h("div", { class: "unavailable" }, errorText(i, this.systemsError)));
      return;
    }
    const systems = this.systems || [];
    if (!systems.length) {
      fill(this.systemsEl, h("div", { class: "muted" }, i.t("systems.none")));
      return;
    }
    fill(this.systemsEl, systems.map((sys) => {
      const last = sys.last;
      const ms = last?.response_ms;
      return h("div", { class: "system", dataset: { system: sys.name, state: sys.state } },
        h("span", { class: "system-name" }, i.term("system", sys.name)),
        h("span", { class: "system-state", "data-testid": `system-state-${sys.name}` }, i.t(`systems.state.${sys.state}`)),
        sparkline({ values: sys.recent.map((r) => (r.response_ms === null ? NaN : r.response_ms)),
          label: i.t("systems.recent") }),
        h("span", { class: "system-ms", "data-testid": `system-ms-${sys.name}` },
          ms === null || ms === undefined ? "—" : i.t("systems.ms", { s: i.number(ms / 1000, 1) })),
        h("span", { class: "muted system-detail" },
          sys.alarms.length ? sys.alarms.map((a) => i.t(`alarm.${a}`)).join(", ")
            : (last && !last.ok ? last.error : (last ? i.time(last.at, true) : ""))));
    }));
  }

  async refreshReliability() {
    const period = this.period;
    try {
      const r = await this.app.api.get(`/api/kpis/reliability?period=${period}`);
      if (period !== this.period) return;  // the operator switched period meanwhile
      this.reliability = r;
      this.reliabilityError = null;
    } catch (err) {
      this.reliabilityError = err;
    }
    this.renderReliability();
  }

  setPeriod(period) {
    this.period = period;
    for (const b of this.reliabilityPeriod.children) {
      b.setAttribute("aria-pressed", String(b.dataset.testid === `reliability-${period}`));
    }
    this.refreshReliability();
  }

  renderReliability() {
    const i = this.i18n;
    const r = this.reliability;
    if (!r) {
      fill(this.reliabilityEl, this.reliabilityError ? h("div", { class: "unavailable" }, errorText(i, this.reliabilityError)) : "");
      return;
    }
    // Days as UTC noons, labelled MM-DD: the site's dates, whatever the browser's time zone. A day has one
    // point: no chart.
    let chart = null;
    if (r.trend.length > 1) {
      const points = r.trend.map((p) => ({ t: Date.parse(`${p.date}T12:00:00Z`), v: p.fault_rate * 100 }));
      chart = lineChart({ points, i18n: i, width: 320, height: 80,
        xLabel: (t) => new Date(t).toISOString().slice(5, 10) });
      chart.setAttribute("data-testid", "reliability-chart");
      chart.setAttribute("aria-label", i.t(r.period === "week" ? "reliability.chart_week" : "reliability.chart"));
    }
    const kinds = Object.entries(r.by_kind).filter(([, k]) => k.devices > 0);
    // The devices that had a fault in the period, worst first; the others are counted.
    const faulty = (r.devices || []).filter((d) => d.fault_days > 0 || d.failures > 0)
      .sort((a, b) => b.fault_rate - a.fault_rate || a.availability - b.availability || a.id.localeCompare(b.id));
    const healthy = (r.devices || []).length - faulty.length;
    const head = (cols) => h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, i.t(`reliability.col.${c}`)))));
    fill(this.reliabilityEl,
      h("div", { class: "muted", "data-testid": "reliability-summary" }, i.t(`reliability.${r.period}`, {
        p: i.percent(r.period === "day" ? r.fault_rate : r.mean_daily_fault_rate), target: i.percent(r.target, 0),
        mttr: i.duration(r.mttr_s), mtbf: i.duration(r.mtbf_s) })),
      chart,
      h("table", { class: "reliability" },
        head(["kind", "fault_rate", "mttr", "mtbf"]),
        h("tbody", {}, kinds.map(([kind, k]) => h("tr", { dataset: { kind, tone: k.over_target ? "warn" : "" } },
          h("td", {}, i.term("kind", kind)), h("td", {}, i.percent(k.fault_rate)),
          h("td", {}, i.duration(k.mttr_s)), h("td", {}, i.duration(k.mtbf_s)))))),
      h("table", { class: "reliability", "data-testid": "reliability-devices" },
        head(["device", "fault_days", "availability", "mttr", "mtbf"]),
        h("tbody", {}, faulty.map((d) => h("tr", { dataset: { device: d.id, tone: d.over_target ? "warn" : "" } },
          h("td", {}, d.id),
          h("td", {}, i.t("reliability.days_of", { p: i.percent(d.fault_rate), n: i.number(d.fault_days), d: i.number(d.days) })),
          h("td", {}, i.percent(d.availability, 1)), h("td", {}, i.duration(d.mttr_s)), h("td", {}, i.duration(d.mtbf_s)))))),
      h("div", { class: "muted", "data-testid": "reliability-healthy" },
        i.t(faulty.length ? "reliability.others" : "reliability.none", { n: i.number(healthy) })));
  }

  // -- wheelchairs: today's supply against demand, per site and per station --------------------------

  renderChairs() {
    const i = this.i18n;
    const wc = this.chairs;
    if (!wc) {
      fill(this.chairsEl, h("div", { class: "unavailable" }, i.t("chairs.none")));
      return;
    }
    const chart = (hours, attrs) => {
      const svg = supplyDemandChart({ hours, i18n: i, ...attrs });
      svg.setAttribute("aria-label", i.t("chairs.chart"));
      return svg;
    };
    const site = chart(wc.hours || [], { width: 420, height: 130 });
    site.setAttribute("data-testid", "chairs-site-chart");
    fill(this.chairsEl,
      h("div", { class: "chairs" },
        h("figure", {}, site, h("figcaption", { class: "chart-legend" },
          h("span", {}, h("i", { class: "key-demand" }), i.t("chairs.demand")),
          h("span", {}, h("i", { class: "key-supply" }), i.t("chairs.supply")),
          h("span", {}, h("i", { class: "key-forecast" }), i.t("chairs.forecast")),
          h("span", { "data-testid": "chairs-totals" }, i.t("chairs.totals", {
            d: i.number(wc.site?.demand_today),
            f: wc.site?.forecast_today === null || wc.site?.forecast_today === undefined ? "–" : i.number(wc.site.forecast_today) })))),
        h("div", { class: "chairs-stations" }, (wc.stations || []).map((st) => h("figure", {
          "data-testid": "chairs-station", dataset: { station: st.id, lowStock: st.low_stock ? "1" : "0" } },
        // Charged chairs first: a long zone name is what gets cut, never the stock.
        h("figcaption", { title: `${st.id} · ${i.zoneName(this.app.zone(st.zone))}` },
          h("b", { "data-testid": "chairs-station-stock" }, i.t("kpi.wheelchairs_value", { c: i.number(st.charged), s: i.number(st.slots) })),
          ` · ${st.id} · ${i.zoneName(this.app.zone(st.zone))}`),
        st.hours ? chart(st.hours, { width: 200, height: 40, compact: true }) : null)))));
  }

  // -- floor plan and zone -------------------------------------------------------------------------

  renderPlan() {
    if (!this.plan) return;
    this.plan.update(this.planControls.zones(), this.selected);
    if (!this.selected && this.app.store.loaded.has("zones")) {
      // Start on the most crowded zone: that is where the operator looks first.
      const zones = this.app.site?.zones || [];
      const live = this.app.store.zones;
      const ratio = (z) => (+(live.get(z.id)?.occupancy) || 0) / (z.capacity || 1);
      const waiting = (z) => +(live.get(z.id)?.waiting) || 0;
      const top = [...zones].sort((a, b) => ratio(b) - ratio(a) || waiting(b) - waiting(a))[0];
      if (top) this.selectZone(top.id);
    }
  }

  selectZone(id) {
    this.selected = id;
    if (this.plan) this.plan.update(this.planControls.zones(), id);
    this.zoneTitle.textContent = `${this.i18n.t("zone.title")} · ${this.i18n.zoneName(this.app.zone(id))}`;
    this.forecast = undefined;
    this.actuals = undefined;
    this.staffing = undefined;
    this.roster = undefined;
    this.renderZone();
    this.loadZone();
  }

  async loadZone() {
    const id = this.selected;
    const { api } = this.app;
    const tz = this.app.site?.timezone;
    const since = new Date(siteClock.now() - ACTUALS_HOURS * 3600e3).toISOString();
    const [forecast, actuals, staffing, roster] = await Promise.allSettled([
      api.get(`/api/forecast?zone=${encodeURIComponent(id)}&hours=24`),
      api.get(`/api/zones/${encodeURIComponent(id)}/history?since=${encodeURIComponent(since)}`),
      api.get(`/api/staffing?date=${siteDate(tz)}`),
      api.get("/api/roster"),
    ]);
    if (id !== this.selected) return;
    this.forecast = forecast.status === "fulfilled"
      ? (Array.isArray(forecast.value) ? forecast.value : rowsOf(forecast.value?.[id] ?? forecast.value, "forecast"))
      : forecast.reason;
    this.actuals = actuals.status === "fulfilled"
      ? rowsOf(actuals.value, "history").map((r) => ({ ts: r.ts ?? r.time, v: r.occupancy ?? r.value }))
      : null;
    this.staffing = staffing.status === "fulfilled"
      ? rowsOf(staffing.value, "staffing", "plan").filter((r) => r.zone === id).sort((a, b) => a.hour - b.hour)
      : staffing.reason;
    this.roster = roster.status === "fulfilled" ? rowsOf(roster.value, "people", "roster", "staff") : roster.reason;
    this.renderZone();
  }

  renderZoneFacts() {
    if (!this.factsEl) return;
    const i = this.i18n;
    const z = this.app.zone(this.selected) || {};
    const level = levelOf(z);
    const onDuty = Array.isArray(this.roster)
      ? this.roster.filter((p) => p.on_duty && (p.zones_now || p.zones || []).includes(this.selected)) : null; // zones_now: by the published plan
    // The zone's queues' service level today, and its charging stations' charged wheelchairs, when it has them.
    const sl = (this.levels?.zones || []).find((x) => x.zone === this.selected);
    const chairs = (this.chairs?.stations || []).filter((s) => s.zone === this.selected);
    fill(this.factsEl,
      h("span", {}, i.t("zone.occupancy"), " ", h("b", { "data-testid": "zone-occupancy" }, i.number(z.occupancy)), h("span", { class: "muted" }, ` / ${i.number(z.capacity)}`)),
      h("span", {}, i.t("zone.waiting"), " ", h("b", {}, i.number(z.waiting))),
      h("span", {}, h("span", { class: "level-pill", dataset: { level } }, i.term("level", level))),
      sl && sl.called ? h("span", {}, i.t("kpi.service_level"), " ",
        h("b", { "data-testid": "zone-service-level" }, i.percent(sl.service_level))) : null,
      chairs.length ? h("span", {}, i.t("kpi.wheelchairs"), " ", h("b", { "data-testid": "zone-wheelchairs" },
        i.t("kpi.wheelchairs_value", { c: i.number(chairs.reduce((n, s) => n + s.charged, 0)),
          s: i.number(chairs.reduce((n, s) => n + s.slots, 0)) }))) : null,
      onDuty ? h("span", {}, i.t("zone.on_duty"), " ", h("b", {}, i.number(onDuty.length))) : null);
    if (onDuty) {
      fill(this.staffEl, onDuty.length
        ? `${i.t("zone.staff")}: ${onDuty.map((p) => ((this.i18n.lang === "zh" && p.name_zh) || p.name) + (p.elastic ? ` (${i.t("zone.elastic")})` : "")).join(", ")}`
        : i.t("zone.no_staff"));
    }
  }

  renderZone() {
    const i = this.i18n;
    if (!this.selected) {
      fill(this.zoneEl, h("div", { class: "empty" }, i.t("zone.pick")));
      return;
    }
    this.factsEl = h("div", { class: "zone-facts" });
    this.staffEl = h("div", { class: "staff-list" });
    const z = this.app.zone(this.selected) || {};
    let forecastPart;
    if (this.forecast === undefined) forecastPart = h("div", { class: "empty" }, i.t("common.loading"));
    else if (this.forecast instanceof Error) {
      forecastPart = this.forecast.status === 503
        ? h("div", { class: "unavailable", "data-testid": "unavailable" }, i.t("zone.forecast_unavailable", { reason: this.forecast.message }))
        : this.forecast.unavailable ? unavailable(i, i.t("zone.forecast")) : h("div", { class: "error-text" }, errorText(i, this.forecast));
    } else {
      const actuals = this.actuals && this.actuals.length ? this.actuals
        : (this.app.store.zoneTrail.get(this.selected) || []).map((p) => ({ ts: p.ts, v: p.v }));
      forecastPart = h("div", {},
        forecastChart({ forecast: this.forecast, actuals, capacity: z.capacity, i18n: i }),
        h("div", { class: "chart-legend" },
          h("span", {}, h("i", { style: "background: rgba(63,182,168,.45); height: 8px" }), i.t("chart.band")),
          h("span", {}, h("i", { style: "background: var(--accent)" }), i.t("chart.p50")),
          h("span", {}, h("i", { style: "background: #e8e2c8" }), i.t("chart.actual")),
          this.forecast.length ? null : h("span", {}, i.t("zone.no_forecast"))));
    }
    let staffingPart;
    if (this.staffing === undefined) staffingPart = h("div", { class: "empty" }, i.t("common.loading"));
    else if (this.staffing instanceof Error) {
      staffingPart = this.staffing.status === 503
        ? h("div", { class: "unavailable", "data-testid": "unavailable" }, i.t("zone.forecast_unavailable", { reason: this.staffing.message }))
        : unavailable(i, i.t("zone.staffing"));
    }
    else if (!this.staffing.length) staffingPart = h("div", { class: "empty" }, i.t("zone.no_staffing"));
    else {
      const gaps = this.staffing.filter((r) => (+r.gap || (+r.required - (+r.on_roster || 0))) > 0 && r.on_roster !== undefined);
      staffingPart = h("div", {},
        staffingChart({ rows: this.staffing, i18n: i }),
        h("div", { class: "chart-legend" },
          h("span", {}, h("i", { style: "background: #4a6a8a; height: 8px" }), i.t("chart.required")),
          h("span", {}, h("i", { style: "background: #e8e2c8" }), i.t("chart.on_roster")),
          h("span", {}, h("i", { style: "background: var(--crowded)" }), i.t("chart.gap"))),
        h("div", { class: "staff-list", "data-testid": "staffing-gaps" }, gaps.length
          ? i.t("zone.gap_hours", { hours: gaps.map((r) => String(r.hour).padStart(2, "0")).join(", ") })
          : i.t("zone.no_gaps")));
    }
    fill(this.zoneEl, this.factsEl,
      h("div", { class: "zone-detail" },
        h("div", {}, h("h3", { class: "muted" }, i.t("zone.forecast")), forecastPart),
        h("div", {}, h("h3", { class: "muted" }, i.t("zone.staffing")), staffingPart, this.staffEl)));
    this.renderZoneFacts();
  }

  // -- alarms --------------------------------------------------------------------------------------

  renderAlarms() {
    const i = this.i18n;
    const alarms = rowsOrUnavailable(i, this.app.store, "alarms", this.alarmsEl, (a) => a.state !== "cleared")?.sort((a, b) =>
      (a.state === "active" ? 0 : 1) - (b.state === "active" ? 0 : 1)
      || (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9)
      || String(b.raised_at).localeCompare(String(a.raised_at)));
    if (!alarms) return;
    const active = alarms.filter((a) => a.state === "active").length;
    this.alarmCount.textContent = i.t("alarms.count", { n: active });
    this.alarmCount.dataset.tone = active ? "bad" : "ok";
    if (!alarms.length) {
      this.alarmRows.clear();
      fill(this.alarmsEl, h("div", { class: "empty" }, i.t("alarms.none")));
      return;
    }
    // Keyed: a row is rebuilt only when its alarm changed, so hundreds of active alarms stay cheap to update.
    const rows = alarms.slice(0, MAX_ALARM_ROWS).map((a) => {
      const key = String(a.id);
      const sig = `${a.state}|${a.severity}|${a.count}|${a.type}|${a.zone}|${a.raised_at}|${a.escalated}|${a.flapping}|${a.assignee}|${a.silenced}|${this.fresh.has(key)}`;
      const cached = this.alarmRows.get(key);
      if (cached && cached.sig === sig) return cached.el;
      const el = this.alarmRow(a);
      this.alarmRows.set(key, { sig, el });
      return el;
    });
    const shown = new Set(alarms.slice(0, MAX_ALARM_ROWS).map((a) => String(a.id)));
    for (const key of this.alarmRows.keys()) if (!shown.has(key)) this.alarmRows.delete(key);
    if (alarms.length > MAX_ALARM_ROWS) {
      rows.push(h("div", { class: "empty", "data-testid": "alarms-more" }, i.t("alarms.more", { n: alarms.length - MAX_ALARM_ROWS })));
    }
    this.alarmsEl.replaceChildren(...rows);
  }

  alarmRow(a) {
    const i = this.i18n;
    const role = this.app.me.role;
    const zone = this.app.zone(a.zone);
    const ack = a.state === "active" && can(role, "ackAlarm")
      ? h("button", { class: "btn", "data-testid": "alarm-ack", onclick: (ev) => this.act(ev.target, `/api/alarms/${encodeURIComponent(a.id)}/ack`) }, i.t("alarms.ack"))
      : null;
    const clear = can(role, "clearAlarm")
      ? h("button", { class: "btn-ghost", "data-testid": "alarm-clear", onclick: (ev) => this.act(ev.target, `/api/alarms/${encodeURIComponent(a.id)}/clear`) }, i.t("alarms.clear"))
      : null;
    return h("div", { class: `alarm${this.fresh.has(String(a.id)) ? " fresh" : ""}`, dataset: { severity: a.severity, state: a.state, alarmId: a.id, source: a.source }, "data-testid": "alarm" },
      h("div", { class: "sev" }),
      h("div", {},
        h("div", { class: "alarm-title" }, i.term("alarm", a.type), " · ", a.source || "",
          a.count > 1 ? h("span", { class: "count" }, `×${a.count}`) : null,
          a.escalated ? h("span", { class: "badge", dataset: { tone: "bad" }, style: "margin-left:6px" }, i.t("alarms.escalated")) : null,
          a.flapping ? h("span", { class: "badge", dataset: { tone: "warn" }, style: "margin-left:6px" }, i.t("alarms.flapping")) : null,
          a.silenced ? h("span", { class: "badge", "data-testid": "alarm-silenced", style: "margin-left:6px" }, i.t("alarms.silenced")) : null),
        h("div", { class: "alarm-meta" },
          i.term("severity", a.severity), " · ", i.zoneName(zone), " · ", i.dateTime(a.raised_at), " · ",
          h("span", { "data-testid": "alarm-state" }, i.term("alarm_state", a.state)),
          a.assignee ? h("span", { "data-testid": "alarm-assignee" }, " · ", i.t("alarms.assignee", { name: a.assignee })) : null)),
      h("div", { style: "display:flex; gap:6px" }, ack, clear));
  }

  async act(button, path) {
    button.disabled = true;
    try {
      const updated = await this.app.api.post(path);
      if (updated && updated.id !== undefined) this.app.store.apply({ type: "alarm.updated", data: updated });
    } catch (err) {
      toast(errorText(this.i18n, err), "bad");
      button.disabled = false;
    }
  }

  // -- device health -------------------------------------------------------------------------------

  renderDevices() {
    const i = this.i18n;
    const devices = rowsOrUnavailable(i, this.app.store, "devices", this.devicesEl)?.sort(byId);
    if (!devices) return;
    const by = (st) => devices.filter((d) => d.state === st).length;
    this.deviceCount.textContent = i.t("devices.summary", { online: by("online"), offline: by("offline"), fault: by("fault") });
    const declared = this.app.site?.device_kinds || [];  // the hub's order (floorops/kinds/)
    const known = declared.map((k) => k.name);
    const shown = new Map(declared.map((k) => [k.name, k.readings || []]));  // each kind's readings to show
    const kinds = [...known, ...new Set(devices.map((d) => d.kind).filter((k) => !known.includes(k)))];
    fill(this.devicesEl, this.agentGroup(), kinds.map((kind) => {
      const group = devices.filter((d) => d.kind === kind);
      return tileGroup(i.term("kind", kind), group, (d) => h("div", {
        class: "dev", dataset: { state: d.state || "unknown", device: d.id, maintenance: d.maintenance ? "1" : "0" },
        "data-testid": "device",
        title: [`${d.id} · ${i.zoneName(this.app.zone(d.zone))} · ${i.term("device_state", d.state)} · ${i.t("devices.last_seen")} ${i.dateTime(d.last_seen)}`,
          ...(d.maintenance ? [i.t("devices.maintenance")] : []), ...readingsOf(i, d, shown.get(kind) || [])].join("\n"),
      }, d.id, d.maintenance ? h("span", { class: "dev-maint", "data-testid": "device-maintenance" }, ` · ${i.t("devices.maintenance")}`) : null));
    }));
  }

  /** The edge agents first: without its agent a site's devices all fall silent (none on an older hub). */
  agentGroup() {
    const i = this.i18n;
    const { store } = this.app;
    if (store.unavailable.has("agents")) return null;
    return tileGroup(i.t("devices.agents"), store.list("agents").sort(byId), (a) => h("div", {
      class: "dev", dataset: { state: a.state || "unknown", agent: a.id }, "data-testid": "agent",
      title: `${a.id} · ${i.term("device_state", a.state)} · ${i.t("devices.agent_since")} ${i.dateTime(a.since)}`,
    }, a.id), "agents");
  }
}

/** "name value" of each reading the device's kind declares (floorops/kinds/), those it has reported. */
function readingsOf(i, device, names) {
  const r = device.readings || {};
  return names.filter((n) => r[n] !== undefined && r[n] !== null && typeof r[n] !== "object")
    .map((n) => `${n} ${typeof r[n] === "number" ? i.number(r[n], Number.isInteger(r[n]) ? 0 : 1) : r[n]}`);
}

/** A titled grid of state tiles (nothing when the group is empty). */
function tileGroup(title, items, tile, testid) {
  if (!items.length) return null;
  return h("div", { class: "devgroup", "data-testid": testid }, h("h4", {}, `${title} (${items.length})`),
    h("div", { class: "devgrid" }, items.map(tile)));
}
