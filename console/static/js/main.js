// The console's shell: session, role-based navigation, live connection, language. Views do the rest.
import { Api } from "./api.js";
import { siteClock } from "./clock.js";
import { h, fill } from "./dom.js";
import { I18n } from "./i18n.js";
import { LiveConnection } from "./live.js";
import { Notifier } from "./notify.js";
import { Pager } from "./pager.js";
import { OfferAlert } from "./offers.js";
import { landingView, viewsFor } from "./roles.js";
import { Store } from "./store.js";
import { LoginView } from "./views/login.js";
import { OperationsView } from "./views/operations.js";
import { DispatchView } from "./views/dispatch.js";
import { TicketsView } from "./views/tickets.js";
import { AdminView } from "./views/admin.js";
import { RequestsView } from "./views/requests.js";
import { RosterView } from "./views/roster.js";
import { SilencesView } from "./views/silences.js";
import { MyNotifyView } from "./views/mynotify.js";

const VIEWS = { operations: OperationsView, dispatch: DispatchView, tickets: TicketsView, admin: AdminView, requests: RequestsView,
  roster: RosterView, silences: SilencesView, notify: MyNotifyView };
const COLLECTIONS = ["zones", "alarms", "devices", "agents", "tickets", "dispatches", "requests"];

class Console {
  constructor() {
    this.i18n = new I18n();
    this.api = new Api("");
    this.notifier = new Notifier(this.i18n);
    this.pager = new Pager(this);
    this.offers = new OfferAlert(this);
    this.store = null;
    this.live = null;
    this.me = null;
    this.site = null;
    this.view = null;
    this.viewName = null;
    this.root = document.getElementById("view");
    this.api.addEventListener("unauthorized", () => this.signOut(true));
    window.addEventListener("hashchange", () => this.route());
    this.i18n.addEventListener("change", () => this.onLanguage());
    document.getElementById("lang-toggle").addEventListener("click", () => this.i18n.setLang(this.i18n.lang === "zh" ? "en" : "zh"));
    document.getElementById("logout").addEventListener("click", () => this.signOut(false));
  }

  async start() {
    await this.i18n.load();
    this.translateChrome();
    if (this.api.token) {
      try {
        await this.enter(await this.api.get("/api/me"));
        return;
      } catch (err) {
        this.api.setToken("");
      }
    }
    this.showLogin();
  }

  showLogin(message) {
    this.stopSession();
    document.getElementById("topbar").hidden = true;
    this.mount(new LoginView(this, message), null);
  }

  /** Called by the login view on success: {token, role} plus the username typed. */
  async signedIn(login, username) {
    this.notifier.unlock();
    let me;
    try {
      me = await this.api.get("/api/me");
    } catch (err) {
      if (err.status === 401) throw err;
      me = { username, role: login.role }; // the hub has no /api/me: what login told us is enough
    }
    await this.enter(me);
  }

  async enter(me) {
    this.me = me;
    try {
      this.site = await this.api.get("/api/site");
    } catch (err) {
      if (err.status === 401) throw err;
      this.site = null;
    }
    this.i18n.timeZone = this.site?.timezone;
    siteClock.set(this.site?.clock); // the hub's clock: real, or make run's demo clock
    // /api/me names the person by roster id: find their name (and Chinese name) for the top bar.
    if (me.person) {
      const roster = await this.api.get("/api/roster").catch(() => ({}));
      const people = Array.isArray(roster) ? roster : roster?.people || [];
      this.person = people.find((p) => p.id === me.person || p.username === me.username) || null;
    } else this.person = null;
    this.store = new Store(this.api);
    this.live = new LiveConnection((since) => this.api.wsUrl(since), (msg) => this.onLive(msg));
    this.live.addEventListener("state", (ev) => this.showConnection(ev.detail));
    this.live.addEventListener("resync", () => this.store.load(COLLECTIONS));
    this.live.addEventListener("unauthorized", () => this.signOut(true));
    this.live.addEventListener("check", () => this.api.get("/api/me").catch(() => {}));
    this.showConnection("connecting");
    this.live.start();
    window.floorops = { live: this.live, store: this.store, notifier: this.notifier }; // for operators' devtools and tests
    const topbar = document.getElementById("topbar");
    topbar.hidden = false;
    this.translateChrome();
    this.startClock();
    this.store.load(COLLECTIONS).catch(() => {});
    this.route();
  }

  onLive(msg) {
    this.store.apply(msg);
    if (msg.type === "dispatch.offered" && ["floor_manager", "liaison"].includes(this.me?.role)) this.offers.offered(msg.data);
    if (msg.type === "dispatch.updated" && msg.data?.state === "withdrawn" && msg.data.assignee === this.me?.username) this.offers.withdrawn(msg.data);
    if (msg.type === "notify.page" && msg.id !== null) this.pager.page(msg.data); // an escalation pages this user
    if (msg.type === "alarm.raised" && (msg.data?.severity === "critical")) document.body.dataset.lastCritical = msg.data.id;
  }


  /** Zone of the site (name, name_zh, floor plan) merged with its live state. */
  zone(id) {
    const site = (this.site?.zones || []).find((z) => z.id === id);
    const live = this.store?.zones.get(String(id));
    if (!site && !live) return id ? { id, name: id } : null;
    return { ...(site || {}), ...(live || {}), name: site?.name || live?.name || id, name_zh: site?.name_zh || live?.name_zh };
  }

  route() {
    if (!this.me) return;
    const allowed = viewsFor(this.me.role, this.me.person);
    let name = location.hash.replace(/^#\/?/, "");
    if (!allowed.includes(name)) {
      name = landingView(this.me.role, this.me.person);
      if (!name) {
        fill(this.root, h("div", { class: "panel" }, this.i18n.t("role.unknown", { role: this.me.role })));
        return;
      }
      history.replaceState(null, "", `#/${name}`);
    }
    this.renderTabs(allowed, name);
    if (name !== this.viewName) this.mount(new VIEWS[name](this), name);
  }

  mount(view, name) {
    if (this.view) this.view.unmount?.();
    this.view = view;
    this.viewName = name;
    fill(this.root);
    document.body.dataset.view = name || "login";
    view.mount(this.root);
  }

  renderTabs(allowed, current) {
    fill(document.getElementById("tabs"), allowed.map((v) =>
      h("a", { href: `#/${v}`, "aria-current": v === current ? "page" : undefined, "data-testid": `tab-${v}` }, this.i18n.t(`view.${v}`))));
  }

  translateChrome() {
    const t = (k) => this.i18n.t(k);
    document.title = `${this.i18n.siteName(this.site)} · FloorOps`;
    document.getElementById("site-name").textContent = this.i18n.siteName(this.site);
    document.getElementById("lang-toggle").textContent = this.i18n.lang === "zh" ? "English" : "中文";
    document.getElementById("lang-toggle").title = t("lang.switch");
    document.getElementById("logout").textContent = t("logout");
    if (this.me) {
      const who = (this.i18n.lang === "zh" && this.person?.name_zh) || this.person?.name || this.me.username;
      document.getElementById("user").textContent = `${who} · ${this.i18n.term("role", this.me.role)}`;
    }
    if (this.live) this.showConnection(this.live.state);
  }

  showConnection(state) {
    const el = document.getElementById("conn");
    el.dataset.state = state;
    el.querySelector(".conn-label").textContent = this.i18n.t(`conn.${state}`);
    el.title = this.live?.lastMessageAt ? this.i18n.t("conn.last", { time: this.i18n.time(this.live.lastMessageAt, true) }) : "";
  }

  startClock() {
    clearInterval(this.clockTimer);
    clearInterval(this.clockSyncTimer);
    const tick = () => {
      document.getElementById("clock").textContent = this.i18n.time(siteClock.now(), true);
      this.showDemoClock();
    };
    tick();
    this.clockTimer = setInterval(tick, 1000);
    // Keep to the hub's clock (a browser's timer drifts; a demo clock runs fast): ask again every minute.
    this.clockSyncTimer = setInterval(() => {
      this.api.get("/api/clock").then((c) => siteClock.set(c)).catch(() => {});
    }, 60_000);
  }

  /** The plain "DEMO CLOCK 07:42 ×10" badge while the centre runs on a demo clock. */
  showDemoClock() {
    const el = document.getElementById("demo-clock");
    el.hidden = !siteClock.demo;
    if (!siteClock.demo) return;
    const speed = this.i18n.number(siteClock.speed, Number.isInteger(siteClock.speed) ? 0 : 1);
    el.textContent = this.i18n.t("clock.demo", { time: this.i18n.time(siteClock.now()), speed });
    el.title = this.i18n.t("clock.demo_title", { start: this.i18n.dateTime(siteClock.info?.start), speed });
  }

  onLanguage() {
    this.translateChrome();
    if (this.view && this.viewName) {
      const name = this.viewName;
      this.viewName = null;
      this.mount(new VIEWS[name](this), name);
      this.renderTabs(viewsFor(this.me.role, this.me.person), name);
    } else if (this.view) {
      this.mount(new LoginView(this), null);
    }
  }

  stopSession() {
    if (this.live) this.live.stop();
    this.live = null;
    this.me = null;
    clearInterval(this.clockTimer);
    clearInterval(this.clockSyncTimer);
  }

  signOut(expired) {
    if (!this.me) return;
    if (!expired) this.api.logout();
    else this.api.setToken("");
    this.showLogin(expired ? this.i18n.t("login.expired") : undefined);
    history.replaceState(null, "", location.pathname);
  }
}

new Console().start();
