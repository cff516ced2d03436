// Pieces several views share: "not available" placeholders, error text, the site-local date.
import { siteClock } from "../clock.js";
import { fill, h } from "../dom.js";

export function unavailable(i18n, what) {
  return h("div", { class: "unavailable", "data-testid": "unavailable" }, i18n.t("common.unavailable", { what }));
}

export function errorText(i18n, err) {
  if (!err) return "";
  if (err.status === 0) return i18n.t("error.network");
  if (err.status === 403) return i18n.t("error.forbidden");
  if (err.unavailable) return i18n.t("common.unavailable", { what: err.path || "" });
  return `${i18n.t("error.generic")}: ${err.message}`;
}

/** YYYY-MM-DD of an instant in the site's time zone. */
export function siteDate(timeZone, when = siteClock.date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(when);
}

/** Hour 0..23 of an instant in the site's time zone. */
export function siteHour(timeZone, when = siteClock.date()) {
  return Number(new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", hour12: false }).format(when)) % 24;
}

/** A list from a hub answer that may be a bare list or wrapped ({items|rows|...: [...]}). */
export function rowsOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  if (data && typeof data === "object") {
    for (const k of [...keys, "items", "rows", "data"]) if (Array.isArray(data[k])) return data[k];
  }
  return [];
}

/** Order of rows by id as people read them: kiosk-2 before kiosk-10. */
export function byId(a, b) {
  return String(a.id).localeCompare(String(b.id), undefined, { numeric: true });
}

/**
 * The rows of a live collection that pass `filter`, or null after putting the "not available" placeholder
 * in `el` when this role or this hub has no such route (the caller then draws nothing else).
 */
export function rowsOrUnavailable(i18n, store, collection, el, filter = () => true) {
  if (store.unavailable.has(collection)) {
    fill(el, unavailable(i18n, `/api/${collection}`));
    return null;
  }
  return store.list(collection, filter);
}

export const SEVERITY_ORDER = { critical: 0, major: 1, minor: 2, warning: 3 };

/** Run fn now and every ms while the view is mounted; returns a stop function. */
export function every(ms, fn) {
  fn();
  const timer = setInterval(fn, ms);
  return () => clearInterval(timer);
}

/**
 * Coalesces re-renders: a burst of live events marks parts dirty, and each part is drawn once per frame
 * (or after 100 ms when the tab is hidden and frames do not run).
 */
export class RenderQueue {
  constructor(renderers) {
    this.renderers = renderers;
    this.dirty = new Set();
    this.scheduled = false;
  }

  mark(...parts) {
    for (const p of parts) this.dirty.add(p);
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      if (!this.scheduled) return;
      this.scheduled = false;
      clearTimeout(this.timer);
      const parts = [...this.dirty];
      this.dirty.clear();
      for (const p of parts) this.renderers[p]?.();
    };
    requestAnimationFrame(run);
    this.timer = setTimeout(run, 100);
  }

  cancel() {
    this.scheduled = false;
    clearTimeout(this.timer);
    this.dirty.clear();
  }
}
