// A page from an escalation chain (hub/escalation.py, event notify.page to this user): sound, vibration and a
// system notification, and a card that stays until acknowledged, with an optional comment. Clicking the
// notification brings the console forward with the card's comment box focused (browsers give page
// notifications no reply buttons; that needs a service worker).
import { h, toast } from "./dom.js";
import { errorText } from "./views/common.js";

export class Pager {
  constructor(app) {
    this.app = app;
    this.cards = new Map(); // subject id -> card element
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
    this.app.notifier.notify(`${i.t("page.title")}${again}`, data.title, `page-${data.subject_id}`,
      () => card.querySelector("textarea")?.focus());
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
        card.remove();
        this.cards.delete(id);
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
