// Dispatch offers must be noticed on a busy floor: a chime (an emergency: a siren) and a system notification.
// Browsers only let a page play sound after a user gesture, so unlock() runs on the sign-in click.

export class Notifier {
  constructor(i18n) {
    this.i18n = i18n;
    this.audio = new Audio(new URL("../sounds/offer.wav", import.meta.url).href);
    this.audio.preload = "auto";
    this.emergencyAudio = new Audio(new URL("../sounds/emergency.wav", import.meta.url).href);
    this.emergencyAudio.preload = "auto";
    this.chimes = 0;
    this.sirens = 0;
    this.notifications = 0;
  }

  /** Called from a click: primes the audio element and asks for notification permission once. */
  unlock() {
    for (const a of [this.audio, this.emergencyAudio]) {
      a.muted = true;
      a.play().then(() => { a.pause(); a.currentTime = 0; a.muted = false; }).catch(() => { a.muted = false; });
    }
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
  }

  get permission() {
    return "Notification" in window ? Notification.permission : "unsupported";
  }

  async chime() {
    try {
      this.audio.currentTime = 0;
      await this.audio.play();
      this.chimes += 1;
      document.body.dataset.chimes = String(this.chimes);
    } catch {
      // Autoplay refused (no gesture yet): the on-screen offer and the notification still show.
    }
  }

  /** The emergency alert: not the routine chime. */
  async siren() {
    try {
      this.emergencyAudio.currentTime = 0;
      await this.emergencyAudio.play();
      this.sirens += 1;
      document.body.dataset.sirens = String(this.sirens);
    } catch {
      // Autoplay refused: the red card, the vibration and the notification still show.
    }
  }

  notify(title, body, tag, onclick = null) {
    if (!("Notification" in window) || Notification.permission !== "granted") return false;
    try {
      const n = new Notification(title, { body, tag, renotify: true, requireInteraction: true });
      n.onclick = () => { window.focus(); n.close(); if (onclick) onclick(); };
      this.notifications += 1;
      return true;
    } catch {
      return false; // some mobile browsers allow notifications from service workers only
    }
  }
}
