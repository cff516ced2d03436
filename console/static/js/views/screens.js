// Queue screens in the operations view: what each screen shows (the hub's last command to it, and whether
// the screen acknowledged it), and the operators' form that broadcasts a notice to chosen screens.
import { h, fill, toast } from "../dom.js";
import { can } from "../roles.js";
import { errorText, every, rowsOf, unavailable } from "./common.js";

const REFRESH_MS = 10_000;

export class ScreensPanel {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
    this.listEl = h("div", { class: "screens panel-body", "data-testid": "screens" });
    this.stop = null;
  }

  mount(parent) {
    const i = this.i18n;
    const role = this.app.me?.role;
    parent.append(h("section", { class: "panel" },
      h("div", { class: "panel-head" }, h("h2", {}, i.t("screens.title"))),
      this.listEl,
      // Folded: on the wall the screens' list matters more than the form, opened when a notice is due.
      can(role, "sendNotice")
        ? h("details", { class: "notice-fold", "data-testid": "notice-fold" },
          h("summary", { "data-testid": "notice-open" }, i.t("screens.broadcast")), this.form())
        : null));
    this.stop = every(REFRESH_MS, () => this.load());
    this.load();
  }

  unmount() {
    if (this.stop) this.stop();
  }

  async load() {
    const i = this.i18n;
    try {
      this.screens = rowsOf(await this.app.api.get("/api/screens"), "screens");
    } catch (e) {
      fill(this.listEl, e.unavailable ? unavailable(i, "/api/screens") : h("div", { class: "error-text" }, errorText(i, e)));
      return;
    }
    const text = (c) => (c ? (i.lang === "zh" ? c.text_zh || c.text : c.text || c.text_zh) : "");
    fill(this.listEl, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, i.t("screens.screen")), h("th", {}, i.t("screens.shows")),
        h("th", {}, i.t("screens.notice")))),
      h("tbody", {}, this.screens.map((s) => h("tr", { dataset: { device: s.device_id }, "data-testid": "screen" },
        h("td", {}, s.device_id),
        h("td", { dataset: { state: s.guide?.state || "" }, "data-testid": "screen-guide" }, text(s.guide),
          s.guide ? h("span", { class: "muted" }, ` · ${i.term("screen_state", s.guide.state)}`) : null),
        h("td", { dataset: { state: s.notice?.state || "" }, "data-testid": "screen-notice" }, text(s.notice),
          s.notice ? h("span", { class: "muted" }, ` · ${i.term("screen_state", s.notice.state)}`) : null))))));
    this.fillChoices();
  }

  fillChoices() {
    if (!this.choices || this.choices.options.length) return;
    for (const s of this.screens || []) this.choices.append(h("option", { value: s.device_id }, s.device_id));
  }

  form() {
    const i = this.i18n;
    this.choices = h("select", { multiple: true, required: true, size: 4, "data-testid": "notice-screens" });
    const en = h("input", { maxLength: 280, "data-testid": "notice-text" });
    const zh = h("input", { maxLength: 280, "data-testid": "notice-text-zh" });
    const minutes = h("input", { type: "number", min: 1, max: 10080, value: 60, required: true, "data-testid": "notice-minutes" });
    const err = h("div", { class: "error-text" });
    return h("form", { "data-testid": "notice-form", onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      const devices = [...this.choices.selectedOptions].map((o) => o.value);
      try {
        const out = await this.app.api.post("/api/screens/notice", {
          devices, text: en.value.trim(), text_zh: zh.value.trim(), expires_s: Number(minutes.value) * 60,
        });
        toast(i.t("screens.sent", { n: out.commands.length }), "info");
        en.value = "";
        zh.value = "";
        this.load();
      } catch (e) {
        err.textContent = errorText(i, e);
      }
    } },
    h("div", { class: "form-row" }, h("label", {}, i.t("screens.choose"), this.choices)),
    h("div", { class: "form-row" }, h("label", {}, i.t("screens.text_en"), en), h("label", {}, i.t("screens.text_zh"), zh),
      h("label", {}, i.t("screens.minutes"), minutes),
      h("button", { class: "btn-primary", type: "submit", "data-testid": "notice-send" }, i.t("screens.send"))),
    err);
  }
}
