// The floor plan: one SVG per floor, zones as the rectangles of the site file (0..100 units per floor),
// coloured by crowding level. Built once; live updates change colours and numbers in place.
import { h, s } from "./dom.js";

const Y_SCALE = 0.62; // floors are wider than deep: squash the 0..100 y range

export const LEVELS = ["normal", "busy", "crowded"];

/** The crowding level to colour; "unknown" while no occupancy has been measured (probes silent, start-up). */
export function levelOf(zone) {
  if (!zone || zone.occupancy === null || zone.occupancy === undefined) return "unknown";
  return LEVELS.includes(zone.level) ? zone.level : "unknown";
}

function fitText(text, widthUnits, fontUnits) {
  // CJK glyphs are about one em wide, Latin about half: keep the label inside its rectangle.
  const max = widthUnits - 2;
  let used = 0;
  let out = "";
  for (const ch of text) {
    used += /[\u2E80-\uFFEF]/.test(ch) ? fontUnits * 1.02 : fontUnits * 0.62;
    if (used > max) return out.trimEnd() + "…";
    out += ch;
  }
  return out;
}

export class FloorPlan {
  /** siteZones: zones of /api/site; onSelect(zoneId) when a zone is clicked. */
  constructor(siteZones, i18n, onSelect) {
    this.siteZones = siteZones;
    this.i18n = i18n;
    this.onSelect = onSelect;
    this.parts = new Map();
    this.el = this.build();
  }

  build() {
    const floors = [...new Set(this.siteZones.map((z) => z.floor ?? 1))].sort((a, b) => a - b);
    return h("div", { class: "floors" }, floors.map((floor) => {
      const svg = s("svg", { viewBox: `-0.5 -0.5 101 ${100 * Y_SCALE + 1}`, "aria-label": this.i18n.t("plan.floor", { n: floor }) });
      for (const z of this.siteZones.filter((zz) => (zz.floor ?? 1) === floor)) {
        const x = +z.x || 0, y = (+z.y || 0) * Y_SCALE, w = +z.w || 10, hh = (+z.h || 10) * Y_SCALE;
        const rect = s("rect", { class: "zone-rect", x: x + 0.3, y: y + 0.3, width: Math.max(0, w - 0.6), height: Math.max(0, hh - 0.6), rx: 0.8, "data-level": "unknown" });
        const title = s("title");
        const name = s("text", { class: "zone-name", x: x + 1.6, y: y + 4.6 }, fitText(this.i18n.zoneName(z), w, 3.1));
        const num = s("text", { class: "zone-num", x: x + 1.6, y: y + 8.6 }, "");
        const wait = s("text", { class: "zone-num", x: x + 1.6, y: y + 12.2 }, "");
        const g = s("g", { class: "zone-g", "data-zone": z.id, tabindex: 0, role: "button", onclick: () => this.onSelect(z.id),
          onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") this.onSelect(z.id); } }, title, rect, name, num, wait);
        if (hh < 10) wait.remove();
        this.parts.set(z.id, { g, rect, title, num, wait, zone: z });
        svg.append(g);
      }
      return h("div", { class: "floor" }, h("h3", {}, this.i18n.t("plan.floor", { n: floor })), svg);
    }));
  }

  /** live: Map zone id -> {occupancy, waiting, level, capacity} */
  update(live, selected) {
    for (const [id, p] of this.parts) {
      const z = live.get(id) || {};
      const level = levelOf(z);
      p.rect.setAttribute("data-level", level);
      p.g.setAttribute("data-level", level);
      p.g.classList.toggle("selected", id === selected);
      const cap = z.capacity ?? p.zone.capacity;
      const occ = z.occupancy;
      p.num.textContent = occ === undefined || occ === null ? "—" : `${this.i18n.number(occ)} / ${this.i18n.number(cap)}`;
      p.wait.textContent = z.waiting === undefined || z.waiting === null ? "" : this.i18n.t("plan.waiting", { n: this.i18n.number(z.waiting) });
      p.title.textContent = `${this.i18n.zoneName(p.zone)}: ${this.i18n.term("level", level)}`;
    }
  }
}
