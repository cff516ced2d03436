// The live feed: one WebSocket to /ws that reconnects with catch-up (/ws?since=<last id>), so a drop loses
// nothing. Messages are {"id", "type", "ts", "data"}; ids increase, so a replayed duplicate is dropped here.

export const CONNECTION_STATES = ["connecting", "live", "reconnecting", "offline"];

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 5000];
// After this many failed attempts in a row the indicator says "offline" (it keeps trying).
const OFFLINE_AFTER = 3;

export class LiveConnection extends EventTarget {
  /**
   * @param {(since: number|null) => string} urlFor  builds the WebSocket URL for a catch-up point
   * @param {(msg: object) => void} onMessage  called once per new message, in id order
   */
  constructor(urlFor, onMessage) {
    super();
    this.urlFor = urlFor;
    this.onMessage = onMessage;
    this.lastId = null;
    this.state = "connecting";
    this.failures = 0;
    this.lastMessageAt = null;
    this.socket = null;
    this.timer = null;
    this.stopped = false;
    this.everOpened = false;
    this.droppedDuplicates = 0;
    this.badMessages = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close();
      this.socket = null;
    }
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  connect() {
    if (this.stopped) return;
    const reconnecting = this.everOpened;
    // The first connection streams from now: the views load snapshots over HTTP. Later ones catch up.
    const ws = new WebSocket(this.urlFor(reconnecting ? this.lastId : null));
    this.socket = ws;
    ws.onopen = () => {
      const wasReconnect = this.everOpened;
      this.everOpened = true;
      this.failures = 0;
      this.setState("live");
      // Reconnected before any message was seen: there is no catch-up point, so the views reload snapshots.
      if (wasReconnect && this.lastId === null) this.dispatchEvent(new Event("resync"));
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => {
      if (this.socket !== ws) return;
      this.socket = null;
      if (this.stopped) return;
      // 4001: the hub ended the session (logout elsewhere, expiry, a new role or password): sign in again.
      if (ev.code === 4001 || ev.code === 4401 || ev.code === 1008) {
        this.stopped = true;
        this.dispatchEvent(new Event("unauthorized"));
        return;
      }
      this.failures += 1;
      // A refused upgrade has no close code a page can read: ask the shell to check the session (401 -> sign-in).
      if (this.failures === 2) this.dispatchEvent(new Event("check"));
      this.setState(this.failures >= OFFLINE_AFTER ? "offline" : "reconnecting");
      const base = BACKOFF_MS[Math.min(this.failures - 1, BACKOFF_MS.length - 1)];
      this.timer = setTimeout(() => this.connect(), base + Math.random() * base * 0.3);
    };
    ws.onerror = () => { /* onclose follows and schedules the retry */ };
  }

  receive(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      this.badMessages += 1;
      return;
    }
    if (!msg || typeof msg !== "object" || typeof msg.type !== "string") {
      this.badMessages += 1;
      return;
    }
    this.lastMessageAt = Date.now();
    if (msg.type === "resync") {
      // The events missed are gone from the hub (or our id is from another database): live resumes after
      // data.last_id, and the views reload their snapshots.
      this.lastId = typeof msg.data?.last_id === "number" ? msg.data.last_id : null;
      this.resyncs = (this.resyncs || 0) + 1;
      this.dispatchEvent(new Event("resync"));
      return;
    }
    if (typeof msg.id === "number") {
      if (this.lastId !== null && msg.id <= this.lastId) {
        this.droppedDuplicates += 1;
        return;
      }
      this.lastId = msg.id;
    }
    try {
      this.onMessage(msg);
    } catch (err) {
      console.error("live message handler failed", msg.type, err);
    }
  }
}
