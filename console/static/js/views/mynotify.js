// My notifications (issue #15 item 4; GET/PUT /api/me/notify): the channels, events and quiet hours of the
// signed-in person, phone first. Their own choices override the roster's (an admin sees both in the roster's
// people list); emergencies (the hub's urgent severities) reach them whatever they choose here.
import { h, fill, toast } from "../dom.js";
import { errorText } from "./common.js";

const SEVERITIES = ["critical", "major", "minor", "warning"];
const SUBJECTS = ["alarm", "request"];

export class MyNotifyView {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
  }

  mount(root) {
    this.el = h("section", { class: "panel my-notify" });
    root.append(h("div", { class: "notify-view", "data-testid": "view-notify" }, this.el));
    this.load();
  }

  async load() {
    const i = this.i18n;
    try {
      this.render(await this.app.api.get("/api/me/notify"));
    } catch (err) {
      fill(this.el, h("div", { class: err.status === 404 ? "empty" : "error-text", "data-testid": "notify-error" },
        err.status === 404 ? i.t("notify.not_a_person") : errorText(i, err)));
    }
  }

  render(prefs) {
    const i = this.i18n;
    const check = (value, on, testid) => h("input", { type: "checkbox", value, checked: on, "data-testid": testid });
    const channels = prefs.available_channels.map((c) => h("label", { class: "check" },
      check(c, prefs.channels.includes(c), `notify-channel-${c}`), i.term("channel", c)));
    const events = new Set(prefs.events);
    const severities = SEVERITIES.map((s) => h("label", { class: "check" },
      check(`severity:${s}`, events.has(`severity:${s}`), `notify-severity-${s}`), i.term("severity", s)));
    const subjects = SUBJECTS.map((s) => h("label", { class: "check" },
      check(`subject:${s}`, events.has(`subject:${s}`), `notify-subject-${s}`), i.t(`notify.subject_${s}`)));
    // Choices the form has no box for (type:<alarm type>, set through the API) are kept as they are.
    const kept = prefs.events.filter((e) => !SEVERITIES.some((s) => e === `severity:${s}`) && !SUBJECTS.some((s) => e === `subject:${s}`));
    const [qFrom, qTo] = prefs.quiet_hours ? prefs.quiet_hours.split("-") : ["22:00", "07:00"];
    const quiet = h("input", { type: "checkbox", checked: Boolean(prefs.quiet_hours), "data-testid": "notify-quiet" });
    const from = h("input", { type: "time", value: qFrom, "data-testid": "notify-quiet-from" });
    const to = h("input", { type: "time", value: qTo === "24:00" ? "00:00" : qTo, "data-testid": "notify-quiet-to" });
    const save = h("button", { class: "btn-primary", type: "submit", "data-testid": "notify-save" }, i.t("notify.save"));
    const boxes = (list) => list.map((l) => l.querySelector("input")).filter((c) => c.checked).map((c) => c.value);
    const urgent = prefs.urgent_severities.map((s) => i.term("severity", s)).join(", ");
    const perm = this.app.notifier.permission;
    fill(this.el,
      h("div", { class: "panel-head" }, h("h2", {}, i.t("notify.title"))),
      h("p", { class: "muted", "data-testid": "notify-urgent" }, i.t("notify.urgent", { severities: urgent || "—" })),
      h("form", { class: "notify-form", "data-testid": "notify-form", onsubmit: async (ev) => {
        ev.preventDefault();
        save.disabled = true;
        const body = { channels: boxes(channels), events: [...boxes(severities), ...boxes(subjects), ...kept],
          quiet_hours: quiet.checked ? `${from.value}-${to.value === "00:00" ? "24:00" : to.value}` : "" };
        try {
          this.render(await this.app.api.put("/api/me/notify", body));
          toast(i.t("notify.saved"), "info");
        } catch (err) {
          toast(errorText(i, err), "bad", 8000);
          save.disabled = false;
        }
      } },
      h("fieldset", {}, h("legend", {}, i.t("notify.channels")),
        channels.length ? [channels, h("div", { class: "muted" }, i.t("notify.channels_hint"))]
          : h("div", { class: "muted" }, i.t("notify.no_channels"))),
      h("fieldset", {}, h("legend", {}, i.t("notify.events")), severities, subjects,
        kept.length ? h("div", { class: "muted", "data-testid": "notify-kept" }, kept.join(", ")) : null,
        h("div", { class: "muted" }, i.t("notify.events_hint"))),
      h("fieldset", {}, h("legend", {}, i.t("notify.quiet_hours")),
        h("label", { class: "check" }, quiet, i.t("notify.quiet_on")), h("div", { class: "inline-form" },
          h("label", {}, i.t("silences.from"), from), h("label", {}, i.t("silences.to"), to))),
      save),
      h("div", { class: "inline-form" },
        h("button", { class: "btn", type: "button", "data-testid": "notify-browser", disabled: perm !== "default",
          onclick: () => { this.app.notifier.unlock(); setTimeout(() => this.load(), 500); } },
        i.t(perm === "granted" ? "dispatch.notify_on" : perm === "unsupported" ? "dispatch.notify_unsupported" : "dispatch.notify_enable")),
        h("button", { class: "btn-ghost", type: "button", "data-testid": "notify-chime", onclick: () => this.app.notifier.chime() },
          i.t("dispatch.test_sound"))));
  }
}
