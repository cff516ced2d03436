// A page from an escalation chain (hub/escalation.py, event notify.page to this user): sound, vibration and a
// system notification, and a card that stays until acknowledged, with an optional comment. Where the
// browser allows a service worker (HTTPS or localhost), the notification has an "Acknowledge" button that
// acknowledges without opening the console (../sw.js); elsewhere clicking it brings the console forward
// with the card's comment box focused.
import { h, toast } from "./dom.js";
import { errorText } from "./views/common.js";

export class Pager {
  constructor(app) {
    this.app = app;
    this.cards = new Map(); // subject id -> card element
    this.worker = null; // the service worker's registration, once ready
    if ("serviceWorker" in navigator && window.isSecureContext) {
      navigator.serviceWorker.register("/sw.js").then(() => navigator.serviceWorker.ready)
        .then((reg) => { this.worker = reg; document.body.dataset.pageWorker = "ready"; })
        .catch(() => { document.body.dataset.pageWorker = "refused"; });
      navigator.serviceWorker.addEventListener("message", (ev) => {
        if (ev.data?.type === "page.focus") this.cards.get(String(ev.data.alarmId))?.querySelector("textarea")?.focus();
        if (ev.data?.type === "page.acked" && ev.data.ok) this.dismiss(String(ev.data.alarmId));
      });
    }
  }

  dismiss(id) {
    this.cards.get(id)?.remove();
    this.cards.delete(id);
  }

  /** A system notification: with an "Acknowledge" button through the service worker, else the page's own. */
  notify(title, body, data, card) {
    const i = this.app.i18n;
    const tag = `page-${data.subject_id}`;
    if (this.worker && this.app.notifier.permission === "granted") {
      this.worker.showNotification(title, { body, tag, renotify: true, requireInteraction: true,
        data: { alarmId: data.subject_id }, actions: [{ action: "ack", title: i.t("page.ack") }] }).catch(() => {});
      return;
    }
    this.app.notifier.notify(title, body, tag, () => card.querySelector("textarea")?.focus());
  }

  /** ``data``: {subject_kind, subject_id, title, severity, step, reminder, urgent}. */
  page(data) {
    if (data?.subject_kind !== "alarm") return;
    const alarm = this.app.store?.alarms?.get(String(data.subject_id));
    if (alarm && alarm.state !== "active") return; // a replayed page about an alarm handled since
    const i = this.app.i18n;
    const again = data.reminder ? ` (${i.t("page.reminder", { n: data.reminder })})` : "";
    this.app.notifier.chime();
    if (navigator.vibrate) navigator.vibrate(data.urgent ? [400, 150, 400, 150, 400] : [250, 100, 250]);
    const card = this.card(data, again);
    this.notify(`${i.t("page.title")}${again}`, data.title, data, card);
  }

  card(data, again) {
    const i = this.app.i18n;
    const id = String(data.subject_id);
    this.cards.get(id)?.remove();
    const comment = h("textarea", { rows: "2", maxlength: "2000", placeholder: i.t("page.comment"), "data-testid": "page-comment" });
    const ack = h("button", { class: "btn-primary", "data-testid": "page-ack" }, i.t("page.ack"));
    const card = h("div", { class: "page-card", dataset: { alarmId: id, severity: data.severity }, "data-testid": "page", role: "alertdialog" },
      h("b", {}, `${i.t("page.title")}${again}`), h("div", {}, data.title), comment, ack);
    ack.addEventListener("click", async () => {
      ack.disabled = true;
      try {
        const body = comment.value.trim() ? { comment: comment.value.trim() } : {};
        const alarm = await this.app.api.post(`/api/alarms/${encodeURIComponent(id)}/ack`, body);
        if (alarm?.id !== undefined) this.app.store?.apply({ type: "alarm.updated", data: alarm });
        this.dismiss(id);
        toast(i.t("page.acked"), "ok");
      } catch (err) {
        toast(errorText(i, err), "bad");
        ack.disabled = false;
      }
    });
    document.body.append(card);
    this.cards.set(id, card);
    return card;
  }
}
