// Dispatch offers on the phone (issue #15): a chime, vibration and a system notification. An emergency has
// its own alert -- a siren, a long vibration, a red card and toast -- so nobody mistakes it for a routine
// offer. Where the browser allows a service worker (registered by pager.js), the notification has an
// "Accept" button that accepts the offer without opening the console (../sw.js). An offer taken back for
// an emergency elsewhere is said so, and its notification closed.
import { toast } from "./dom.js";

export const URGENT_PATTERN = [600, 200, 600, 200, 600, 200, 600];
export const OFFER_PATTERN = [250, 100, 250];

/** An emergency: its own sound, colour and vibration on the phone. */
export const isEmergency = (d) => d?.reason === "emergency";

export class OfferAlert {
  constructor(app) {
    this.app = app;
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.addEventListener("message", (ev) => {
        if (ev.data?.type === "dispatch.accepted") this.accepted(ev.data);
      });
    }
  }

  describe(d) {
    const i = this.app.i18n;
    const title = i.t(isEmergency(d) ? "dispatch.emergency_offer" : "dispatch.new_offer");
    const body = `${i.zoneName(this.app.zone(d?.zone))}: ${d?.reason ? i.term("reason", d.reason) : ""}`;
    return { title, body };
  }

  offered(d) {
    const urgent = isEmergency(d);
    const { title, body } = this.describe(d);
    if (urgent) this.app.notifier.siren(); else this.app.notifier.chime();
    if (navigator.vibrate) navigator.vibrate(urgent ? URGENT_PATTERN : OFFER_PATTERN);
    this.notify(title, body, d, urgent);
    toast(`${title} — ${body}`, urgent ? "bad" : "warn", urgent ? 15000 : 8000);
  }

  /** With an "Accept" button through the service worker; else (no worker, or it may not show one) the
   * page's own notification. */
  notify(title, body, d, urgent) {
    const worker = this.app.pager?.worker;
    const tag = `dispatch-${d?.id}`;
    const page = () => this.app.notifier.notify(title, body, tag);
    if (worker && this.app.notifier.permission === "granted") {
      worker.showNotification(title, { body, tag, renotify: true, requireInteraction: true,
        vibrate: urgent ? URGENT_PATTERN : OFFER_PATTERN, data: { dispatchId: d.id },
        actions: [{ action: "accept", title: this.app.i18n.t("dispatch.accept") }] }).catch(page);
      return;
    }
    page();
  }

  /** The service worker accepted from the notification: show it at once. */
  accepted({ ok, dispatch }) {
    if (!ok || dispatch?.id === undefined) return;
    this.app.store?.apply({ type: "dispatch.updated", data: dispatch });
    toast(this.app.i18n.t("dispatch.accepted_from_notification"), "ok");
  }

  withdrawn(d) {
    const { body } = this.describe(d);
    toast(`${this.app.i18n.t("dispatch.withdrawn")} — ${body}`, "warn", 10000);
    this.app.pager?.worker?.getNotifications({ tag: `dispatch-${d.id}` })
      .then((list) => list.forEach((n) => n.close())).catch(() => {});
  }
}
