// Floor manager, phone first: dispatch offers (sound + notification arrive via the shell), accept, decline,
// complete, and the current state of each offer's zone.
import { siteClock } from "../clock.js";
import { h, fill, toast } from "../dom.js";
import { levelOf } from "../floorplan.js";
import { toDate } from "../i18n.js";
import { can } from "../roles.js";
import { errorText, RenderQueue, unavailable } from "./common.js";
import { CorrectiveActions } from "./corrective.js";
import { isEmergency } from "../offers.js";
import { stationLine } from "./requests.js";

const OPEN_STATES = ["offered", "accepted", "arrived"];
const RECENT_DONE = 5;

export class DispatchView {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
  }

  mount(root) {
    const i = this.i18n;
    this.listEl = h("div", { class: "dispatch-list", "data-testid": "dispatches" });
    this.doneEl = h("div", {});
    this.noticeEl = h("div", { class: "notice" });
    root.append(h("div", { class: "dispatch", "data-testid": "view-dispatch" },
      h("div", { class: "panel-head" }, h("h2", {}, i.t("dispatch.title")), h("span", { class: "spacer" })),
      this.noticeEl, this.listEl,
      h("h2", {}, i.t("dispatch.recent")), this.doneEl));
    if (can(this.app.me?.role, "actOnSatisfaction")) {  // a floor manager's corrective actions (satisfaction_low)
      this.corrective = new CorrectiveActions(this.app);
      root.querySelector('[data-testid="view-dispatch"]').append(this.corrective.el);
      this.corrective.start();
    }
    this.queue = new RenderQueue({ all: () => this.render() });
    // The answer-within countdowns tick every second without redrawing the cards.
    this.ticker = setInterval(() => {
      for (const el of this.listEl.querySelectorAll("[data-expires]")) el.textContent = ` · ${this.expiresText(el.dataset.expires)}`;
    }, 1000);
    this.onChange = (ev) => {
      if (["dispatches", "zones", "requests"].includes(ev.detail.collection)) this.queue.mark("all");
    };
    this.app.store.addEventListener("change", this.onChange);
    this.render();
  }

  unmount() {
    this.app.store.removeEventListener("change", this.onChange);
    this.queue.cancel();
    clearInterval(this.ticker);
    this.corrective?.stop();
  }

  renderNotice() {
    const i = this.i18n;
    const perm = this.app.notifier.permission;
    fill(this.noticeEl,
      perm === "granted" ? h("span", {}, i.t("dispatch.notify_on"))
        : perm === "unsupported" ? h("span", {}, i.t("dispatch.notify_unsupported"))
          : h("button", { class: "btn", onclick: async () => {
            this.app.notifier.unlock();
            try { await Notification.requestPermission(); } catch { /* refused */ }
            this.renderNotice();
          } }, i.t("dispatch.notify_enable")),
      h("button", { class: "btn-ghost", "data-testid": "chime-test", onclick: () => this.app.notifier.chime() }, i.t("dispatch.test_sound")));
  }

  render() {
    const i = this.i18n;
    const { store } = this.app;
    this.renderNotice();
    if (store.unavailable.has("dispatches")) {
      fill(this.listEl, unavailable(i, "/api/dispatches"));
      fill(this.doneEl);
      return;
    }
    const all = store.list("dispatches");
    const open = all.filter((d) => OPEN_STATES.includes(d.state))
      // Most urgent first (an emergency above everything), then oldest first; offers before accepted jobs.
      .sort((a, b) => (b.priority ?? 40) - (a.priority ?? 40) || (a.state === "offered" ? 0 : 1) - (b.state === "offered" ? 0 : 1)
        || String(a.created_at).localeCompare(String(b.created_at)));
    const done = all.filter((d) => !OPEN_STATES.includes(d.state))
      .sort((a, b) => String(b.created_at).localeCompare(String(a.created_at))).slice(0, RECENT_DONE);
    fill(this.listEl, open.length ? open.map((d) => this.card(d)) : h("div", { class: "panel empty", "data-testid": "no-dispatches" }, i.t("dispatch.none")));
    fill(this.doneEl, done.length ? done.map((d) =>
      h("div", { class: "panel", style: "padding:8px 12px; display:flex; gap:10px; align-items:center; margin-top:6px", dataset: { dispatchId: d.id, state: d.state }, "data-testid": "dispatch-done" },
        h("span", { style: "flex:1" }, i.zoneName(this.app.zone(d.zone)), " · ", i.term("reason", d.reason)),
        h("span", { class: "badge" }, i.term("dispatch_state", d.state)),
        h("span", { class: "muted" }, i.time(d.created_at))))
      : h("div", { class: "empty" }, "—"));
  }

  /** "answer within 2:41": an offer nobody answers goes to the next person. */
  expiresText(expiresAt) {
    const left = Math.max(0, Math.round((toDate(expiresAt)?.getTime() - siteClock.now()) / 1000));
    if (!Number.isFinite(left)) return "";
    return this.i18n.t("dispatch.expires", { t: `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` });
  }

  card(d) {
    const i = this.i18n;
    const zone = this.app.zone(d.zone) || {};
    const level = levelOf(zone);
    const mayAnswer = can(this.app.me.role, "answerDispatch");
    const act = (verb) => async (ev) => {
      ev.target.disabled = true;
      try {
        const updated = await this.app.api.post(`/api/dispatches/${encodeURIComponent(d.id)}/${verb}`);
        if (updated && updated.id !== undefined) this.app.store.apply({ type: "dispatch.updated", data: updated });
      } catch (err) {
        toast(errorText(i, err), "bad");
        ev.target.disabled = false;
      }
    };
    const actions = !mayAnswer ? null : d.state === "offered"
      ? h("div", { class: "offer-actions" },
        h("button", { class: "btn-primary", "data-testid": "dispatch-accept", onclick: act("accept") }, i.t("dispatch.accept")),
        h("button", { class: "btn", "data-testid": "dispatch-decline", onclick: act("decline") }, i.t("dispatch.decline")))
      : d.state === "accepted"
        ? h("div", { class: "offer-actions" },
          h("button", { class: "btn-primary", "data-testid": "dispatch-arrive", onclick: act("arrive") }, i.t("dispatch.arrive")),
          h("button", { class: "btn", "data-testid": "dispatch-complete", onclick: act("complete") }, i.t("dispatch.complete")))
        : h("div", { class: "offer-actions", style: "grid-template-columns: 1fr" },
          h("button", { class: "btn-primary", "data-testid": "dispatch-complete", onclick: act("complete") }, i.t("dispatch.complete")));
    const urgent = isEmergency(d);
    return h("article", { class: "offer", dataset: { state: d.state, dispatchId: d.id, urgent: urgent ? "1" : "0" }, "data-testid": "dispatch" },
      h("div", { style: "display:flex; justify-content:space-between; align-items:baseline; gap:8px" },
        h("div", { class: "offer-zone" }, i.zoneName(zone)),
        h("span", { class: "badge", dataset: { tone: d.state === "offered" ? "warn" : "ok" }, "data-testid": "dispatch-state" }, i.term("dispatch_state", d.state))),
      h("div", { class: "offer-reason" }, urgent ? h("b", { class: "urgent-tag", "data-testid": "dispatch-urgent" }, i.t("dispatch.emergency_offer")) : null,
        urgent ? " " : null, i.term("reason", d.reason)),
      d.service_request !== null && d.service_request !== undefined
        ? stationLine(i, this.app, this.app.store.requests.get(String(d.service_request))) : null,
      h("div", { class: "zone-state", "data-testid": "dispatch-zone-state" },
        h("div", {}, h("b", {}, i.number(zone.occupancy)), h("span", {}, `${i.t("zone.occupancy")} / ${i.number(zone.capacity)}`)),
        h("div", {}, h("b", {}, i.number(zone.waiting)), h("span", {}, i.t("zone.waiting"))),
        h("div", {}, h("b", {}, h("span", { class: "level-pill", dataset: { level } }, i.term("level", level))), h("span", {}, i.t("zone.level")))),
      h("div", { class: "offer-meta" }, i.t("dispatch.created", { time: i.time(d.created_at) }),
        d.state === "offered" && d.expires_at ? h("span", { "data-expires": d.expires_at, class: "expires" }, ` · ${this.expiresText(d.expires_at)}`) : null,
        d.assignee && this.app.me.role === "admin" ? ` · ${i.t("dispatch.assignee")}: ${d.assignee}` : ""),
      actions);
  }
}
