// A page from an escalation chain (hub/escalation.py, event notify.page to this user) about an alarm or a
// request raised by people: sound, vibration and a system notification, and a card that stays until
// acknowledged, with an optional comment. Acknowledging a request's page stops its chain; when the request's
// open offer is yours it also accepts it (you are going), otherwise the offer stays with its person. Where the
// browser allows a service worker (HTTPS or localhost), the notification has an "Acknowledge" button that
// acknowledges without opening the console (../sw.js); elsewhere clicking it brings the console forward
// with the card's comment box focused.
import { h, toast } from "./dom.js";
import { errorText } from "./views/common.js";

export class Pager {
  constructor(app) {
    this.app = app;
    this.cards = new Map(); // key (an alarm's id, "request:<id>") -> card element
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

  /** A request's card goes when someone has taken the request (its offer accepted), acknowledged or closed it. */
  watch() {
    if (this.watching || !this.app.store) return;
    this.watching = true;
    this.app.store.addEventListener("change", (ev) => {
      const { collection, item } = ev.detail || {};
      if (!item) return;
      if (collection === "requests" && (item.state === "closed" || item.acked_by)) this.dismiss(`request:${item.id}`);
      if (collection === "dispatches" && item.service_request !== null && item.service_request !== undefined
        && ["accepted", "arrived", "completed"].includes(item.state)) this.dismiss(`request:${item.service_request}`);
    });
  }

  dismiss(id) {
    this.cards.get(id)?.remove();
    this.cards.delete(id);
  }

  /** The card's key and the acknowledgement's address of a page's subject. */
  static subject(data) {
    const id = String(data.subject_id);
    return data.subject_kind === "request"
      ? { key: `request:${id}`, ackUrl: `/api/requests/${encodeURIComponent(id)}/ack` }
      : { key: id, ackUrl: `/api/alarms/${encodeURIComponent(id)}/ack` };
  }

  /** A system notification: with an "Acknowledge" button through the service worker, else the page's own. */
  notify(title, body, data, card) {
    const i = this.app.i18n;
    const { key, ackUrl } = Pager.subject(data);
    const tag = `page-${key}`;
    if (this.worker && this.app.notifier.permission === "granted") {
      this.worker.showNotification(title, { body, tag, renotify: true, requireInteraction: true,
        data: { alarmId: key, ackUrl }, actions: [{ action: "ack", title: i.t("page.ack") }] }).catch(() => {});
      return;
    }
    this.app.notifier.notify(title, body, tag, () => card.querySelector("textarea")?.focus());
  }

  /** ``data``: {subject_kind, subject_id, title, severity, step, reminder, urgent}. */
  page(data) {
    if (data?.subject_kind === "alarm") {
      const alarm = this.app.store?.alarms?.get(String(data.subject_id));
      if (alarm && alarm.state !== "active") return; // a replayed page about an alarm handled since
    } else if (data?.subject_kind === "request") {
      const r = this.app.store?.requests?.get(String(data.subject_id));
      if (r && (r.state === "closed" || r.acked_by)) return; // a replayed page about a request handled since
    } else {
      return;
    }
    this.watch();
    const i = this.app.i18n;
    const again = data.reminder ? ` (${i.t("page.reminder", { n: data.reminder })})` : "";
    this.app.notifier.chime();
    if (navigator.vibrate) navigator.vibrate(data.urgent ? [400, 150, 400, 150, 400] : [250, 100, 250]);
    const card = this.card(data, again);
    this.notify(`${this.heading(data)}${again}`, data.title, data, card);
  }

  heading(data) {
    return this.app.i18n.t(data.subject_kind === "request" ? "page.request_title" : "page.title");
  }

  card(data, again) {
    const i = this.app.i18n;
    const { key: id, ackUrl } = Pager.subject(data);
    const isRequest = data.subject_kind === "request";
    this.cards.get(id)?.remove();
    const comment = h("textarea", { rows: "2", maxlength: "2000", placeholder: i.t("page.comment"), "data-testid": "page-comment" });
    const ack = h("button", { class: "btn-primary", "data-testid": "page-ack" }, i.t("page.ack"));
    const dataset = isRequest ? { requestId: String(data.subject_id), severity: data.severity }
      : { alarmId: id, severity: data.severity };
    const card = h("div", { class: "page-card", dataset, "data-testid": "page", role: "alertdialog" },
      h("b", {}, `${this.heading(data)}${again}`), h("div", {}, data.title), comment, ack);
    ack.addEventListener("click", async () => {
      ack.disabled = true;
      try {
        const body = comment.value.trim() ? { comment: comment.value.trim() } : {};
        const updated = await this.app.api.post(ackUrl, body);
        if (updated?.id !== undefined) this.app.store?.apply({ type: isRequest ? "request.updated" : "alarm.updated", data: updated });
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
