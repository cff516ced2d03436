// The floor plan: one SVG per floor, drawn from the site file's plan (docs/site.md "Floor plan"): the floor's
// outline, corridors and stair/lift cores, each zone its polygon (or its rectangle when it has none). Layers:
// the zones' fill (heat = occupancy / capacity, crowding level, or satisfaction score) and the flows between
// zones as arrows whose width follows the count. Built once; updates change colours, numbers and arrows in place.
import { h, s } from "./dom.js";

const Y_SCALE = 0.62; // floors are wider than deep: squash the 0..100 y range

export const LEVELS = ["normal", "busy", "crowded"];
export const FILL_MODES = ["heat", "level", "satisfaction"];

/** The crowding level to colour; "unknown" while no occupancy has been measured (probes silent, start-up). */
export function levelOf(zone) {
  if (!zone || zone.occupancy === null || zone.occupancy === undefined) return "unknown";
  return LEVELS.includes(zone.level) ? zone.level : "unknown";
}

// Heat scale stops (occupancy / capacity): cool blue when empty, green, amber, red at capacity and above.
export const HEAT_STOPS = [[0, [38, 76, 122]], [0.45, [47, 138, 92]], [0.75, [214, 160, 40]], [1, [204, 56, 48]]];

/** The heat colour of an occupancy share (0..1, clamped), as "rgb(r, g, b)". */
export function heatColour(ratio) {
  const r = Math.min(1, Math.max(0, Number(ratio) || 0));
  for (let k = 1; k < HEAT_STOPS.length; k++) {
    const [r1, c1] = HEAT_STOPS[k];
    const [r0, c0] = HEAT_STOPS[k - 1];
    if (r <= r1) {
      const f = (r - r0) / (r1 - r0);
      return `rgb(${c0.map((c, i) => Math.round(c + (c1[i] - c) * f)).join(", ")})`;
    }
  }
  return `rgb(${HEAT_STOPS[HEAT_STOPS.length - 1][1].join(", ")})`;
}

/** "good" at or above target, "fair" within 10 points below it, "poor" further below; "unknown" without ratings. */
export function satisfactionBand(score, target) {
  if (score === undefined || score === null || Number.isNaN(Number(score))) return "unknown";
  if (score >= target) return "good";
  return score >= target - 10 ? "fair" : "poor";
}

const NAME_FONT = 3.1, NAME_FONT_MIN = 2.1;

function textWidth(text, fontUnits) {
  // CJK glyphs are about one em wide, Latin about half.
  let used = 0;
  for (const ch of text) used += /[\u2E80-\uFFEF]/.test(ch) ? fontUnits * 1.02 : fontUnits * 0.62;
  return used;
}

/** The label and its font size that fit the shape's width: shrink down to a floor, then cut with "…". */
function fitText(text, widthUnits, fontUnits = NAME_FONT) {
  const max = widthUnits - 2;
  const size = Math.max(NAME_FONT_MIN, Math.min(fontUnits, fontUnits * max / (textWidth(text, fontUnits) || 1)));
  let used = 0;
  let out = "";
  for (const ch of text) {
    used += textWidth(ch, size);
    if (used > max) return [out.trimEnd() + "…", size];
    out += ch;
  }
  return [out, size];
}

/** The zone's shape in floor units: its polygon, or its rectangle's corners. */
function shapeOf(z) {
  if (Array.isArray(z.polygon) && z.polygon.length >= 3) return z.polygon.map(([x, y]) => [+x, +y]);
  const x = +z.x || 0, y = +z.y || 0, w = +z.w || 10, hh = +z.h || 10;
  return [[x, y], [x + w, y], [x + w, y + hh], [x, y + hh]];
}

/** Area centroid of a simple polygon (falls back to the mean of its points when degenerate). */
function centroid(points) {
  let a = 0, cx = 0, cy = 0;
  for (let i = 0; i < points.length; i++) {
    const [x0, y0] = points[i];
    const [x1, y1] = points[(i + 1) % points.length];
    const cross = x0 * y1 - x1 * y0;
    a += cross;
    cx += (x0 + x1) * cross;
    cy += (y0 + y1) * cross;
  }
  if (Math.abs(a) < 1e-9) {
    return [points.reduce((n, p) => n + p[0], 0) / points.length, points.reduce((n, p) => n + p[1], 0) / points.length];
  }
  return [cx / (3 * a), cy / (3 * a)];
}

function bbox(points) {
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
}

/** The polygon's horizontal extent on the row y (floor units): where a label on that row has room. */
function spanAt(points, y) {
  const xs = [];
  for (let i = 0; i < points.length; i++) {
    const [x0, y0] = points[i];
    const [x1, y1] = points[(i + 1) % points.length];
    if ((y0 <= y && y <= y1) || (y1 <= y && y <= y0)) xs.push(y0 === y1 ? Math.min(x0, x1) : x0 + (x1 - x0) * (y - y0) / (y1 - y0));
    if (y0 === y1 && y0 === y) xs.push(Math.max(x0, x1));
  }
  return xs.length >= 2 ? [Math.min(...xs), Math.max(...xs)] : null;
}

const pts = (points) => points.map(([x, y]) => `${x},${(y * Y_SCALE).toFixed(2)}`).join(" ");

export class FloorPlan {
  /**
   * siteZones: zones of /api/site; floorPlans: its floor_plans (outline, corridors, lifts; may be empty);
   * onSelect(zoneId) when a zone is clicked.
   */
  constructor(siteZones, i18n, onSelect, floorPlans = []) {
    this.siteZones = siteZones;
    this.i18n = i18n;
    this.onSelect = onSelect;
    this.floorPlans = new Map((floorPlans || []).map((f) => [f.number, f]));
    this.parts = new Map();
    this.floorSvgs = new Map();
    this.mode = "heat";
    this.showFlows = true;
    this.flows = [];
    this.satisfaction = null;
    this.el = this.build();
  }

  build() {
    const floors = [...new Set(this.siteZones.map((z) => z.floor ?? 1))].sort((a, b) => a - b);
    return h("div", { class: "floors", dataset: { mode: this.mode } }, floors.map((floor) => {
      const plan = this.floorPlans.get(floor);
      const svg = s("svg", { viewBox: `-0.5 -0.5 101 ${100 * Y_SCALE + 1}`, "data-floor": floor,
        "aria-label": this.floorTitle(floor) });
      svg.append(s("defs", {}, s("marker", { id: `flow-head-${floor}`, viewBox: "0 0 10 10", refX: 6, refY: 5,
        markerWidth: 2.6, markerHeight: 2.6, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "flow-head" }))));
      if (plan?.outline?.length >= 3) svg.append(s("polygon", { class: "plan-outline", points: pts(plan.outline) }));
      for (const c of plan?.corridors || []) svg.append(s("polygon", { class: "plan-corridor", points: pts(c) }));
      // Layers, bottom to top: zone shapes, flows, zone labels (text stays readable over the arrows).
      const zonesG = s("g", { class: "zones" });
      const labelsG = s("g", { class: "zone-labels" });
      for (const z of this.siteZones.filter((zz) => (zz.floor ?? 1) === floor)) {
        const shape = shapeOf(z);
        const box = bbox(shape);
        const [cx, cy] = centroid(shape);
        const top = box.y0 * Y_SCALE;
        // Labels sit at the top, centred on the shape's extent there (a slanted wall narrows it).
        const [l0, l1] = spanAt(shape, box.y0 + 5.5 / Y_SCALE) || [box.x0, box.x1];
        const w = l1 - l0, lx = (l0 + l1) / 2;
        const tall = (box.y1 - box.y0) * Y_SCALE;
        const polygon = s("polygon", { class: "zone-rect", points: pts(shape), "data-level": "unknown",
          "data-shape": Array.isArray(z.polygon) && z.polygon.length >= 3 ? "polygon" : "rect" });
        const title = s("title");
        const [label, size] = fitText(this.i18n.zoneName(z), w);
        const name = s("text", { class: "zone-name", x: lx, y: top + 4.6, "text-anchor": "middle" }, label);
        if (size < NAME_FONT) name.style.fontSize = `${size.toFixed(2)}px`;
        const num = s("text", { class: "zone-num", x: lx, y: top + 8.6, "text-anchor": "middle", "data-testid": "zone-num" }, "");
        const extra = s("text", { class: "zone-num zone-extra", x: lx, y: top + 12.2, "text-anchor": "middle" }, "");
        const g = s("g", { class: "zone-g", "data-zone": z.id, tabindex: 0, role: "button", onclick: () => this.onSelect(z.id),
          onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") this.onSelect(z.id); } }, title, polygon);
        labelsG.append(s("g", { class: "zone-label", "data-zone": z.id }, name, num, extra));
        if (tall < 10) extra.remove();
        // Flows attach below the labels: halfway between the centroid and the shape's bottom.
        const anchor = [cx, (cy + (box.y1 - cy) * 0.55) * Y_SCALE];
        const foot = [lx, box.y1 * Y_SCALE - 1.6];  // where the wandering badge goes
        this.parts.set(z.id, { g, rect: polygon, title, num, extra, name, zone: z, floor, anchor, foot, width: w });
        zonesG.append(g);
      }
      svg.append(zonesG);
      const lifts = s("g", { class: "plan-lifts" });
      for (const [x, y] of plan?.lifts || []) {
        lifts.append(s("g", { class: "plan-lift" }, s("rect", { x: x - 1.6, y: y * Y_SCALE - 1.6, width: 3.2, height: 3.2, rx: 0.5 }),
          s("text", { x, y: y * Y_SCALE + 1.05, "text-anchor": "middle" }, "⇅")));
      }
      svg.append(lifts);
      const flowsG = s("g", { class: "flows", "data-testid": `flows-${floor}` });
      svg.append(flowsG, labelsG);
      this.floorSvgs.set(floor, { svg, flowsG, lifts: (plan?.lifts || []).map(([x, y]) => [x, y * Y_SCALE]) });
      return h("div", { class: "floor" }, h("h3", {}, this.floorTitle(floor)), svg);
    }));
  }

  floorTitle(floor) {
    const plan = this.floorPlans.get(floor);
    const name = plan && ((this.i18n.lang === "zh" && plan.name_zh) || plan.name);
    return name || this.i18n.t("plan.floor", { n: floor });
  }

  /** Fill by "heat" (occupancy / capacity), "level" (the hub's crowding level) or "satisfaction". */
  setMode(mode) {
    if (!FILL_MODES.includes(mode)) return;
    this.mode = mode;
    this.el.dataset.mode = mode;
    this.paint();
  }

  setShowFlows(on) {
    this.showFlows = !!on;
    this.drawFlows();
  }

  /**
   * Once drawn, measure each name with the real font (the estimate above misses bold and font metrics):
   * shrink it to the floor size, then cut it with "…" until it fits its shape.
   */
  fitLabels() {
    if (this.fitted || !this.el.isConnected) return;
    this.fitted = true;
    for (const p of this.parts.values()) {
      const max = p.width - 2;
      const full = this.i18n.zoneName(p.zone);
      let length = p.name.getComputedTextLength();
      if (!length || length <= max) continue;
      const size = parseFloat(getComputedStyle(p.name).fontSize) || NAME_FONT;
      const smaller = Math.max(NAME_FONT_MIN, size * max / length);
      p.name.style.fontSize = `${smaller.toFixed(2)}px`;
      let cut = [...full];
      for (length = p.name.getComputedTextLength(); length > max && cut.length > 1; length = p.name.getComputedTextLength()) {
        cut = cut.slice(0, -1);
        p.name.textContent = cut.join("").trimEnd() + "…";
      }
    }
  }

  /** live: Map zone id -> {occupancy, waiting, level, capacity} */
  update(live, selected) {
    const i = this.i18n;
    this.fitLabels();
    for (const [id, p] of this.parts) {
      const z = live.get(id) || {};
      const level = levelOf(z);
      const cap = z.capacity ?? p.zone.capacity;
      const occ = z.occupancy;
      const known = occ !== undefined && occ !== null;
      const ratio = known ? occ / (cap || 1) : null;
      p.rect.setAttribute("data-level", level);
      p.g.setAttribute("data-level", level);
      p.g.classList.toggle("selected", id === selected);
      p.g.dataset.ratio = known ? ratio.toFixed(3) : "";
      p.heat = known ? heatColour(ratio) : "";
      p.num.textContent = known ? `${i.number(occ)} / ${i.number(cap)}` : "—";
      p.waitText = z.waiting === undefined || z.waiting === null ? "" : i.t("plan.waiting", { n: i.number(z.waiting) });
      p.title.textContent = `${i.zoneName(p.zone)}: ${i.term("level", level)}${known ? ` · ${i.percent(ratio, 0)}` : ""}`;
    }
    this.paint();
  }

  /** data: GET /api/satisfaction ({zones: [{zone, score, ratings}], target}); null when not available. */
  setSatisfaction(data) {
    this.satisfaction = data;
    this.paint();
  }

  paint() {
    const i = this.i18n;
    const target = +(this.satisfaction?.target ?? 80);
    const scores = new Map((this.satisfaction?.zones || []).map((r) => [r.zone, r]));
    for (const [id, p] of this.parts) {
      const sat = scores.get(id);
      const band = satisfactionBand(sat?.ratings ? sat.score : null, target);
      p.g.dataset.satisfaction = band;
      p.g.dataset.score = sat?.ratings ? String(sat.score) : "";
      if (this.mode === "heat") p.rect.style.fill = p.heat || "";
      else p.rect.style.fill = "";
      p.rect.dataset.fill = this.mode === "heat" ? (p.heat || "unknown") : "";
      if (this.mode === "satisfaction") {
        p.extra.textContent = sat?.ratings ? i.t("plan.score", { s: i.number(sat.score, 1), n: i.number(sat.ratings) }) : i.t("plan.no_ratings");
      } else {
        p.extra.textContent = p.waitText || "";
      }
    }
  }

  /**
   * flows: [{origin, dest, count, median_transit_s}] of /api/flows, already cut to counts >= k; wandering:
   * [{zone, rate, usual, ...}], the share of a zone's visitors walking back and forth, and its usual share.
   */
  setFlows(flows, wandering = []) {
    this.flows = flows || [];
    this.wandering = wandering || [];
    this.drawFlows();
  }

  drawFlows() {
    for (const { flowsG } of this.floorSvgs.values()) flowsG.replaceChildren();
    if (!this.showFlows) return;
    const i = this.i18n;
    const flows = this.flows.filter((f) => this.parts.has(f.origin) && this.parts.has(f.dest) && f.origin !== f.dest);
    // Zones where more visitors than usual walk back and forth (lost, or sent between counters): a badge.
    for (const w of this.wandering || []) {
      const p = this.parts.get(w.zone);
      if (!p || !(+w.rate > +(w.usual ?? 0))) continue;
      this.floorSvgs.get(p.floor).flowsG.append(s("g", { "data-testid": "wandering", "data-zone": w.zone },
        s("title", {}, i.t("plan.wandering_title", { p: i.percent(w.rate, 0), u: i.percent(w.usual, 0),
          t: i.duration(w.extra_walk_s) })),
        s("text", { class: "wandering", x: p.foot[0], y: p.foot[1], "text-anchor": "middle" },
          i.t("plan.wandering", { p: i.percent(w.rate, 0), u: i.percent(w.usual, 0) }))));
    }
    const max = Math.max(1, ...flows.map((f) => +f.count || 0));
    const width = (count) => 0.35 + 1.9 * ((+count || 0) / max);
    // Heaviest last, so it draws on top.
    for (const f of [...flows].sort((a, b) => a.count - b.count)) {
      const o = this.parts.get(f.origin), d = this.parts.get(f.dest);
      const label = i.t("plan.flow_title", { from: i.zoneName(o.zone), to: i.zoneName(d.zone), n: i.number(f.count),
        t: i.duration(f.median_transit_s) });
      const w = width(f.count);
      if (o.floor === d.floor) {
        this.floorSvgs.get(o.floor).flowsG.append(this.arrow(o.anchor, d.anchor, w, f, label, o.floor, "same"));
      } else {
        // Across floors: to the origin floor's nearest stair/lift, and from the destination floor's nearest one.
        const up = this.nearestLift(o.floor, o.anchor), down = this.nearestLift(d.floor, d.anchor);
        const out = this.arrow(o.anchor, up, w, f, label, o.floor, "leave");
        out.append(s("text", { class: "flow-floor", x: up[0], y: up[1] - 2.4, "text-anchor": "middle" },
          i.t("plan.to_floor", { n: d.floor })));
        this.floorSvgs.get(o.floor).flowsG.append(out);
        const inn = this.arrow(down, d.anchor, w, f, label, d.floor, "arrive");
        inn.append(s("text", { class: "flow-floor", x: down[0], y: down[1] - 2.4, "text-anchor": "middle" },
          i.t("plan.from_floor", { n: o.floor })));
        this.floorSvgs.get(d.floor).flowsG.append(inn);
      }
    }
  }

  nearestLift(floor, [x, y]) {
    const lifts = this.floorSvgs.get(floor)?.lifts || [];
    if (!lifts.length) return [x, Math.max(2, y - 8)];  // no lift drawn: a short stub above the zone
    return lifts.reduce((best, p) => (Math.hypot(p[0] - x, p[1] - y) < Math.hypot(best[0] - x, best[1] - y) ? p : best));
  }

  /** A curved arrow (bending to its right, so A→B and B→A do not overlap) with its count at the middle. */
  arrow([x0, y0], [x1, y1], w, f, label, floor, part) {
    const dx = x1 - x0, dy = y1 - y0;
    const len = Math.hypot(dx, dy) || 1;
    const shorten = Math.min(len * 0.2, 2.5);
    const ax = x0 + (dx / len) * shorten, ay = y0 + (dy / len) * shorten;
    const bx = x1 - (dx / len) * shorten, by = y1 - (dy / len) * shorten;
    const bend = Math.min(8, len * 0.15);
    const mx = (ax + bx) / 2 - (dy / len) * bend, my = (ay + by) / 2 + (dx / len) * bend;
    const path = s("path", { class: "flow-line", d: `M${ax.toFixed(2)},${ay.toFixed(2)} Q${mx.toFixed(2)},${my.toFixed(2)} ${bx.toFixed(2)},${by.toFixed(2)}`,
      "stroke-width": w.toFixed(2), "marker-end": `url(#flow-head-${floor})` });
    // The curve's midpoint (t = 0.5 of the quadratic Bézier).
    const lx = (ax + 2 * mx + bx) / 4, ly = (ay + 2 * my + by) / 4;
    return s("g", { class: "flow", "data-testid": "flow", "data-origin": f.origin, "data-dest": f.dest, "data-count": f.count,
      "data-part": part, "data-width": w.toFixed(2) },
    s("title", {}, label), path,
    s("text", { class: "flow-count", x: lx.toFixed(2), y: (ly + 1).toFixed(2), "text-anchor": "middle" }, this.i18n.number(f.count)));
  }
}
