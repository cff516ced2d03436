// Charts drawn as plain SVG: the forecast band with actuals, staffing bars, small telemetry lines.
import { siteClock } from "./clock.js";
import { s } from "./dom.js";
import { toDate } from "./i18n.js";

function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** The axis top: max rounded up to a whole number of tick steps. */
function niceMax(v, ticks = 4) {
  if (!(v > 0)) return 1;
  const step = tickStep(v, ticks);
  return Math.ceil(v / step - 1e-9) * step;
}

function path(points) {
  return points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
}

/** A tick step of 1, 2 or 5 times a power of ten giving about `count` ticks up to max. */
function tickStep(max, count) {
  const raw = max / Math.max(1, count);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function yAxis(svg, y, max, left, right, ticks = 4, fmt = (v) => String(v)) {
  const step = tickStep(max, ticks);
  for (let v = 0; v <= max + 1e-9; v += step) {
    const yy = y(v);
    svg.append(s("line", { class: "grid", x1: left, x2: right, y1: yy, y2: yy }));
    svg.append(s("text", { x: left - 4, y: yy + 3, "text-anchor": "end" }, fmt(v)));
  }
}

/**
 * Occupancy forecast: p10..p90 band, p50 line, actual occupancy, a "now" marker and, if known, capacity.
 * forecast: [{start, p10, p50, p90}], actuals: [{ts, v}] (ms or ISO).
 */
export function forecastChart({ forecast = [], actuals = [], capacity, now = siteClock.now(), i18n, width = 640, height = 220 }) {
  const m = { l: 38, r: 10, t: 10, b: 22 };
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "data-testid": "forecast-chart" });
  const fc = forecast.map((p) => ({ t: toDate(p.start)?.getTime(), p10: +p.p10, p50: +p.p50, p90: +p.p90 })).filter((p) => p.t);
  const ac = actuals.map((p) => ({ t: toDate(p.ts)?.getTime(), v: +p.v })).filter((p) => p.t && Number.isFinite(p.v));
  const times = [...fc.map((p) => p.t), ...ac.map((p) => p.t), now];
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, now + 3600e3);
  const top = niceMax(Math.max(1, ...fc.map((p) => p.p90), ...ac.map((p) => p.v), capacity || 0));
  const x = scale(t0, t1, m.l, width - m.r);
  const y = scale(0, top, height - m.b, m.t);
  yAxis(svg, y, top, m.l, width - m.r, 4, (v) => i18n.number(v));
  // Hour ticks every 3 hours, labelled in the site's time zone.
  const step = (t1 - t0) > 30 * 3600e3 ? 6 * 3600e3 : 3 * 3600e3;
  for (let t = Math.ceil(t0 / 3600e3) * 3600e3; t <= t1; t += 3600e3) {
    if (t % step !== 0) continue;
    svg.append(s("text", { x: x(t), y: height - 6, "text-anchor": "middle" }, i18n.time(t)));
  }
  if (fc.length) {
    const upper = fc.map((p) => [x(p.t), y(p.p90)]);
    const lower = fc.map((p) => [x(p.t), y(p.p10)]).reverse();
    svg.append(s("path", { class: "band", d: `${path(upper)}L${lower.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join("L")}Z` }));
    svg.append(s("path", { class: "p50", d: path(fc.map((p) => [x(p.t), y(p.p50)])) }));
  }
  if (capacity) {
    svg.append(s("line", { class: "grid", x1: m.l, x2: width - m.r, y1: y(capacity), y2: y(capacity), "stroke-dasharray": "6 4", stroke: "#8a3530" }));
    svg.append(s("text", { x: width - m.r - 2, y: y(capacity) - 3, "text-anchor": "end" }, i18n.t("chart.capacity")));
  }
  if (ac.length) svg.append(s("path", { class: "actual", d: path(ac.map((p) => [x(p.t), y(p.v)])), "data-testid": "forecast-actuals" }));
  svg.append(s("line", { class: "now", x1: x(now), x2: x(now), y1: m.t, y2: height - m.b }));
  return svg;
}

/** Staff required (bars, p50 solid; p90 faint) against staff on the roster (outline); gaps marked red. */
export function staffingChart({ rows = [], i18n, width = 420, height = 180 }) {
  const m = { l: 26, r: 6, t: 8, b: 20 };
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "data-testid": "staffing-chart" });
  const hours = rows.map((r) => +r.hour);
  if (!rows.length) return svg;
  const h0 = Math.min(...hours);
  const h1 = Math.max(...hours) + 1;
  const top = niceMax(Math.max(1, ...rows.map((r) => Math.max(+r.required_p90 || 0, +r.required || 0, +r.on_roster || 0))));
  const x = scale(h0, h1, m.l, width - m.r);
  const y = scale(0, top, height - m.b, m.t);
  yAxis(svg, y, top, m.l, width - m.r, Math.min(4, top), (v) => i18n.number(v));
  const bw = (x(h0 + 1) - x(h0)) * 0.7;
  for (const r of rows) {
    const bx = x(+r.hour) + bw * 0.2;
    if (r.required_p90 !== undefined) {
      svg.append(s("rect", { class: "bar-req", opacity: 0.35, x: bx, width: bw, y: y(+r.required_p90), height: y(0) - y(+r.required_p90) }));
    }
    svg.append(s("rect", { class: "bar-req", x: bx, width: bw, y: y(+r.required || 0), height: y(0) - y(+r.required || 0) }));
    if (r.on_roster !== undefined && r.on_roster !== null) {
      svg.append(s("rect", { class: "bar-roster", x: bx, width: bw, y: y(+r.on_roster), height: Math.max(0.5, y(0) - y(+r.on_roster)) }));
      const gap = (+r.required || 0) - (+r.on_roster || 0);
      if (gap > 0) svg.append(s("rect", { class: "bar-gap", x: bx, width: bw, y: y(0) + 2, height: 3 }));
    }
    if (+r.hour % 3 === 0) svg.append(s("text", { x: bx + bw / 2, y: height - 5, "text-anchor": "middle" }, String(r.hour).padStart(2, "0")));
  }
  return svg;
}

/** A small line chart of one numeric field over time. points: [{t: ms, v}]; xLabel(t): the end labels
 * (default: the site's time of day). */
export function lineChart({ points, i18n, width = 260, height = 90, xLabel = (t) => i18n.time(t) }) {
  const m = { l: 30, r: 4, t: 6, b: 16 };
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  if (!points.length) return svg;
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  const lo = Math.min(0, ...points.map((p) => p.v));
  const hi = niceMax(Math.max(...points.map((p) => p.v)) - lo) + lo;
  const x = scale(t0, t1, m.l, width - m.r);
  const y = scale(lo, hi, height - m.b, m.t);
  svg.append(s("line", { class: "grid", x1: m.l, x2: width - m.r, y1: y(hi), y2: y(hi) }));
  svg.append(s("line", { class: "grid", x1: m.l, x2: width - m.r, y1: y(lo), y2: y(lo) }));
  svg.append(s("text", { x: m.l - 3, y: y(hi) + 3, "text-anchor": "end" }, i18n.number(hi, hi < 10 ? 1 : 0)));
  svg.append(s("text", { x: m.l - 3, y: y(lo) + 3, "text-anchor": "end" }, i18n.number(lo)));
  svg.append(s("text", { x: m.l, y: height - 3 }, xLabel(t0)));
  svg.append(s("text", { x: width - m.r, y: height - 3, "text-anchor": "end" }, xLabel(t1)));
  svg.append(s("path", { class: "actual", d: path(points.map((p) => [x(p.t), y(p.v)])) }));
  return svg;
}

/** A sparkline of recent values (nulls skipped), no axes: a row's trend at a glance. */
export function sparkline({ values, width = 80, height = 18, label = "" }) {
  const svg = s("svg", { class: "sparkline", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  const pts = values.map((v, i) => [i, v]).filter(([, v]) => Number.isFinite(v));
  if (pts.length < 2) return svg;
  const hi = Math.max(...pts.map(([, v]) => v)) || 1;
  const x = scale(0, Math.max(1, values.length - 1), 1, width - 1);
  const y = scale(0, hi, height - 1, 1);
  svg.append(s("path", { class: "actual", d: path(pts.map(([i, v]) => [x(i), y(v)])) }));
  return svg;
}

/**
 * A day's wheelchairs by hour: chairs taken (demand, bars), the fewest charged chairs on the stations
 * (supply, a step line) and the demand forecast (dashed). hours: [{hour, demand, supply, forecast}] as
 * GET /api/wheelchairs serves them (supply and forecast null when unknown). compact: no y axis labels.
 */
export function supplyDemandChart({ hours = [], i18n, width = 420, height = 120, compact = false }) {
  const m = { l: compact ? 4 : 26, r: 4, t: 6, b: compact ? 4 : 16 };
  const svg = s("svg", { class: "chart chairs-chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  const num = (v) => (v === null || v === undefined || !Number.isFinite(+v) ? null : +v);
  const top = niceMax(Math.max(1, ...hours.flatMap((r) => [num(r.demand), num(r.supply), num(r.forecast)].filter((v) => v !== null))), 3);
  const x = scale(0, 24, m.l, width - m.r);
  const y = scale(0, top, height - m.b, m.t);
  if (!compact) yAxis(svg, y, top, m.l, width - m.r, Math.min(3, top), (v) => i18n.number(v));
  else svg.append(s("line", { class: "grid", x1: m.l, x2: width - m.r, y1: y(0), y2: y(0) }));
  const bw = (x(1) - x(0)) * 0.7;
  for (const r of hours) {
    const d = num(r.demand) || 0;
    if (d > 0) svg.append(s("rect", { class: "bar-demand", x: x(+r.hour) + bw * 0.2, width: bw, y: y(d), height: y(0) - y(d) }));
    if (!compact && +r.hour % 3 === 0) {
      svg.append(s("text", { x: x(+r.hour) + bw * 0.2 + bw / 2, y: height - 4, "text-anchor": "middle" }, String(r.hour).padStart(2, "0")));
    }
  }
  // Supply as steps over each known hour; the forecast as a dashed line through the hours' middles.
  const steps = [];
  for (const r of hours) {
    const v = num(r.supply);
    if (v === null) continue;
    steps.push(`M${x(+r.hour).toFixed(1)},${y(v).toFixed(1)}H${x(+r.hour + 1).toFixed(1)}`);
  }
  if (steps.length) svg.append(s("path", { class: "supply", d: steps.join(""), "data-testid": "chairs-supply" }));
  const fc = hours.filter((r) => num(r.forecast) !== null).map((r) => [x(+r.hour + 0.5), y(num(r.forecast))]);
  if (fc.length) svg.append(s("path", { class: "forecast", d: path(fc), "data-testid": "chairs-forecast" }));
  return svg;
}
