// The corrective actions of satisfaction_low (hub/satisfaction.py), in the floor manager's view: a zone's
// score below the target for days in a row, the owner, the due date, the follow-up's verdict, and
// Acknowledge / Close with an optional note. A hub without /api/satisfaction/actions shows nothing.
import { h, fill, toast } from "../dom.js";
import { can } from "../roles.js";
import { errorText, every } from "./common.js";

const REFRESH_MS = 60_000;

export class CorrectiveActions {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
    this.el = h("section", { "data-testid": "corrective-actions" });
    this.stops = [];
  }

  start() {
    this.stops.push(every(REFRESH_MS, () => this.refresh()));  // now, then every minute
  }

  stop() {
    for (const stop of this.stops) stop();
  }

  async refresh() {
    try {
      this.actions = await this.app.api.get("/api/satisfaction/actions?state=open");
    } catch {
      this.actions = null;  // not served by this hub, or not now: the section stays empty
    }
    this.render();
  }

  render() {
    const i = this.i18n;
    if (!Array.isArray(this.actions)) {
      fill(this.el);
      return;
    }
    fill(this.el, h("h2", {}, i.t("corrective.title")),
      this.actions.length ? this.actions.map((a) => this.card(a))
        : h("div", { class: "empty", "data-testid": "no-corrective-actions" }, i.t("corrective.none")));
  }

  card(a) {
    const i = this.i18n;
    const note = h("input", { type: "text", maxlength: "2000", placeholder: i.t("corrective.note"),
      "data-testid": "corrective-note" });
    const act = (verb) => async (ev) => {
      ev.target.disabled = true;
      try {
        await this.app.api.post(`/api/satisfaction/actions/${encodeURIComponent(a.id)}/${verb}`, { note: note.value });
        await this.refresh();
      } catch (err) {
        toast(errorText(i, err), "bad");
        ev.target.disabled = false;
      }
    };
    const mayAct = can(this.app.me?.role, "actOnSatisfaction");
    const scores = (a.streak || []).map((d) => i.number(d.score, 1)).join(" · ");
    return h("article", { class: "offer", dataset: { state: a.state, actionId: a.id }, "data-testid": "corrective-action" },
      h("div", { style: "display:flex; justify-content:space-between; align-items:baseline; gap:8px" },
        h("div", { class: "offer-zone" }, i.zoneName(this.app.zone(a.zone)) || a.zone),
        h("span", { class: "badge", dataset: { tone: a.overdue ? "bad" : a.state === "open" ? "warn" : "ok" },
          "data-testid": "corrective-state" }, i.t(`corrective.state.${a.state}`))),
      h("div", { class: "offer-reason", "data-testid": "corrective-reason" },
        i.t("corrective.reason", { n: i.number((a.streak || []).length), s: scores })),
      h("div", { class: "offer-meta" },
        i.t("corrective.due", { time: i.time(a.due_at) }), " · ", i.t("corrective.owner", { who: a.owner || "—" }),
        a.verdict ? h("span", { "data-testid": "corrective-verdict" }, " · ", i.t(`corrective.verdict.${a.verdict}`)) : null),
      mayAct ? h("div", { class: "offer-actions" }, note,
        a.state === "open"
          ? h("button", { class: "btn-primary", "data-testid": "corrective-acknowledge", onclick: act("acknowledge") },
            i.t("corrective.acknowledge"))
          : null,
        h("button", { class: "btn", "data-testid": "corrective-close", onclick: act("close") }, i.t("corrective.close")))
        : null);
  }
}
