// The floor plan's controls: which layer fills the zones (heat, crowding level, satisfaction), the flow arrows,
// and the time slider that replays the day (from 00:00 site time to now) in 15-minute steps. Live shows the
// hub's live zones and the last 15 minutes' flows; a replayed step shows each zone's measured occupancy
// (GET /api/zones/{id}/history) and the step's flows (GET /api/flows?from&to). A hub without /api/flows or
// /api/satisfaction gives no arrows and no scores, never an error.
import { siteClock } from "../clock.js";
import { h } from "../dom.js";
import { FILL_MODES, HEAT_STOPS, heatColour } from "../floorplan.js";
import { rowsOf, siteDate } from "./common.js";

export const STEP_MS = 15 * 60_000;
const FLOWS_REFRESH_MS = 60_000;
const SATISFACTION_REFRESH_MS = 5 * 60_000;
const HISTORY_LIMIT = 10_000;
const HISTORY_RELOAD_MS = 5_000;
const HISTORY_PAGES = 10;
// Replayed zones get a crowding level from their share of capacity, as the zone_crowded rule's defaults
// (hub/rules: busy at 70 %, crowded at 90 %): the hub keeps no history of levels.
const BUSY_SHARE = 0.7;
const CROWDED_SHARE = 0.9;

/** The instant of 00:00 today in the site's time zone (the offset of now: a day with a DST change is off by 1 h). */
export function siteMidnight(timeZone, now = siteClock.now()) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone, hourCycle: "h23", year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
    .formatToParts(new Date(now)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  const offset = asUtc - Math.floor(now / 1000) * 1000;
  return Date.UTC(+parts.year, +parts.month - 1, +parts.day) - offset;
}

export class PlanControls {
  /** plan: the FloorPlan; onChange() when the zones to show changed (live <-> replay, another step). */
  constructor(app, plan, onChange) {
    this.app = app;
    this.i18n = app.i18n;
    this.plan = plan;
    this.onChange = onChange;
    this.live = true;
    this.history = null;  // Map zone id -> [[ms, occupancy], ...] ascending, loaded on the first replay
    this.replayed = new Map();
    this.timers = [];
    this.build();
  }

  get tz() { return this.app.site?.timezone; }

  build() {
    const t = (k, v) => this.i18n.t(k, v);
    this.modeButtons = FILL_MODES.map((mode) => h("button", {
      class: "seg", type: "button", "data-testid": `plan-mode-${mode}`, dataset: { mode },
      onclick: () => this.setMode(mode) }, this.i18n.term("plan.mode", mode)));
    this.flowsBox = h("input", { type: "checkbox", checked: true, "data-testid": "plan-flows",
      onchange: () => this.plan.setShowFlows(this.flowsBox.checked) });
    this.slider = h("input", { type: "range", min: 0, max: 1, step: 1, value: 1, class: "plan-slider",
      "data-testid": "plan-slider", "aria-label": t("plan.slider"), oninput: () => this.seek(+this.slider.value) });
    this.timeEl = h("span", { class: "plan-time", "data-testid": "plan-time" });
    this.liveBtn = h("button", { class: "btn", type: "button", "data-testid": "plan-live", onclick: () => this.goLive() },
      t("plan.live"));
    this.legendEl = h("div", { class: "legend plan-legend", "data-testid": "plan-legend" });
    this.el = h("div", { class: "plan-controls", "data-testid": "plan-controls", dataset: { state: "live" } },
      h("div", { class: "segs", role: "group", "aria-label": t("plan.layers") }, this.modeButtons),
      h("label", { class: "plan-flows-toggle" }, this.flowsBox, t("plan.flows")),
      this.slider, this.timeEl, this.liveBtn);
    this.setMode(this.plan.mode);
  }

  start() {
    this.timers.push(setInterval(() => { if (this.live) this.loadFlows(); this.tick(); }, FLOWS_REFRESH_MS));
    this.timers.push(setInterval(() => this.loadSatisfaction(), SATISFACTION_REFRESH_MS));
    this.tick();
    this.loadFlows();
    this.loadSatisfaction();
  }

  stop() {
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.seekTimer);
  }

  setMode(mode) {
    this.plan.setMode(mode);
    for (const b of this.modeButtons) b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
    this.renderLegend();
  }

  renderLegend() {
    const i = this.i18n;
    const mode = this.plan.mode;
    let parts;
    if (mode === "heat") {
      const stops = HEAT_STOPS.map(([r]) => `${heatColour(r)} ${Math.round(r * 100)}%`).join(", ");
      parts = [h("span", {}, i.t("plan.heat_legend")), h("span", { class: "heat-scale" },
        h("i", { class: "heat-bar", style: `background: linear-gradient(90deg, ${stops})` }),
        h("span", { class: "muted" }, `${i.percent(0, 0)} – ${i.percent(1, 0)}`))];
    } else if (mode === "level") {
      parts = ["normal", "busy", "crowded"].map((l) =>
        h("span", {}, h("i", { style: `background: var(--${l})` }), i.term("level", l)));
    } else {
      const target = this.plan.satisfaction?.target ?? 80;
      parts = [...["good", "fair", "poor"].map((b) =>
        h("span", {}, h("i", { class: `sat-${b}` }), i.term("plan.sat", b))),
      h("span", { class: "muted", "data-testid": "plan-sat-target" },
        this.plan.satisfaction ? i.t("plan.sat_target", { t: i.number(target) }) : i.t("plan.sat_unavailable"))];
    }
    this.legendEl.replaceChildren(...parts);
  }

  /** Slider bounds follow the clock: 0 = 00:00 site time, the last position = now. */
  tick() {
    const now = siteClock.now();
    this.midnight = siteMidnight(this.tz, now);
    const max = Math.max(1, Math.ceil((now - this.midnight) / STEP_MS));
    this.slider.max = String(max);
    if (this.live) this.slider.value = String(max);
    this.renderTime();
  }

  /** The end of the shown window: a step's end, never later than now. */
  timeAt(step) {
    return Math.min(this.midnight + step * STEP_MS, siteClock.now());
  }

  renderTime() {
    const i = this.i18n;
    this.el.dataset.state = this.live ? "live" : "replay";
    this.liveBtn.disabled = this.live;
    this.timeEl.textContent = this.live ? i.t("plan.live_at", { t: i.time(siteClock.now()) })
      : i.t("plan.replay_at", { t: i.time(this.shownAt) });
  }

  async seek(step) {
    this.live = false;
    this.shownAt = this.timeAt(step);
    this.renderTime();
    clearTimeout(this.seekTimer);
    // Dragging fires many inputs: fetch the window's flows once the hand rests.
    this.seekTimer = setTimeout(() => this.loadFlows(), 250);
    // Loaded on the first replay; again when a step newer than what was loaded is asked for (a wall runs all day).
    if (!this.history || (this.shownAt > this.historyAt && siteClock.now() - this.historyAt > HISTORY_RELOAD_MS)) {
      await this.loadHistory();
    }
    if (this.live) return;
    this.replayed = this.zonesAt(this.shownAt);
    this.onChange();
  }

  goLive() {
    this.live = true;
    clearTimeout(this.seekTimer);
    this.tick();
    this.loadFlows();
    this.onChange();
  }

  /** The zones to draw: live state, or the replayed step's occupancy. */
  zones() {
    return this.live ? this.app.store.zones : this.replayed;
  }

  async loadHistory() {
    const since = new Date(this.midnight).toISOString();
    this.historyAt = siteClock.now();
    const zones = this.app.site?.zones || [];
    const answers = await Promise.allSettled(zones.map((z) => this.zoneHistory(z.id, since)));
    this.history = new Map(zones.map((z, k) => {
      const rows = answers[k].status === "fulfilled" ? answers[k].value : [];
      const points = rows.map((r) => [Date.parse(r.ts ?? r.time), r.occupancy ?? r.value])
        .filter(([ms, v]) => Number.isFinite(ms) && v !== null && v !== undefined).sort((a, b) => a[0] - b[0]);
      return [z.id, points];
    }));
  }

  /** A zone's rows since ``since``, page after page while a page is full (an edge publishing often). */
  async zoneHistory(id, since) {
    const rows = [];
    let from = since;
    for (let page = 0; page < HISTORY_PAGES; page++) {
      const batch = rowsOf(await this.app.api.get(
        `/api/zones/${encodeURIComponent(id)}/history?since=${encodeURIComponent(from)}&limit=${HISTORY_LIMIT}`), "history");
      rows.push(...batch);
      const last = batch[batch.length - 1];
      if (batch.length < HISTORY_LIMIT || !(last?.ts ?? last?.time)) break;
      from = last.ts ?? last.time;  // the next page starts at the last point (seen twice: harmless)
    }
    return rows;
  }

  /** Each zone's last measured occupancy in the step ending at ``at`` (none: "no data" for that step). */
  zonesAt(at) {
    const out = new Map();
    for (const z of this.app.site?.zones || []) {
      const points = this.history?.get(z.id) || [];
      let value = null;
      for (const [ms, v] of points) {
        if (ms > at) break;
        if (ms > at - STEP_MS) value = +v;
      }
      const share = value === null ? 0 : value / (z.capacity || 1);
      out.set(z.id, { id: z.id, capacity: z.capacity, occupancy: value,
        level: value === null ? null : share >= CROWDED_SHARE ? "crowded" : share >= BUSY_SHARE ? "busy" : "normal" });
    }
    return out;
  }

  async loadFlows() {
    let path = "/api/flows";
    if (!this.live) {
      const to = this.shownAt;
      path += `?from=${encodeURIComponent(new Date(to - STEP_MS).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
    }
    const wanted = this.live ? "live" : this.shownAt;
    let flows = [];
    let wandering = [];
    try {
      const data = await this.app.api.get(path);
      // Pairs under k are never sent (FLOWCONTRACT); should one slip through, it is not drawn either.
      const k = +(data?.k ?? 0);
      flows = rowsOf(data, "flows").filter((f) => +f.count >= k && +f.count > 0);
      wandering = Array.isArray(data?.wandering) ? data.wandering : [];
      this.el.dataset.flows = "ok";
    } catch {
      this.el.dataset.flows = "unavailable";
    }
    if (wanted !== (this.live ? "live" : this.shownAt)) return;  // the slider moved on meanwhile
    this.plan.setFlows(flows, wandering);
  }

  async loadSatisfaction() {
    try {
      this.plan.setSatisfaction(await this.app.api.get(`/api/satisfaction?date=${siteDate(this.tz)}`));
    } catch {
      this.plan.setSatisfaction(null);
    }
    this.renderLegend();
  }
}
