// The site's time by the hub's clock (GET /api/clock; docs/configuration.md "[clock]"): the real wall clock, or
// make run's demo clock that started the site's day at a chosen time and runs faster. Every time the console
// shows or asks for ("now", "today", "the last 6 hours") comes from here, never from the browser's clock.

export class SiteClock {
  constructor() {
    this.set(null);
  }

  /** The hub's answer: {demo, start, speed, now_ms}. Null: the browser's clock until the hub has answered. */
  set(info) {
    this.info = info && Number.isFinite(Number(info.now_ms)) ? info : null;
    this.speed = this.info && Number(this.info.speed) > 0 ? Number(this.info.speed) : 1;
    this.base = this.info ? Number(this.info.now_ms) : null;
    this.at = performance.now();
  }

  get demo() {
    return Boolean(this.info?.demo);
  }

  /** Epoch milliseconds, as the hub's clock reads them now. */
  now() {
    if (this.base === null) return Date.now();
    return this.base + (performance.now() - this.at) * this.speed;
  }

  /** A Date of now by this clock. */
  date() {
    return new Date(this.now());
  }
}

export const siteClock = new SiteClock();
