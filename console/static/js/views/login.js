// Sign-in: POST /api/login, then the shell routes the user to their role's view.
import { h } from "../dom.js";

export class LoginView {
  constructor(app, message) {
    this.app = app;
    this.message = message || "";
  }

  mount(root) {
    const { i18n } = this.app;
    const t = (k) => i18n.t(k);
    const user = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true, "data-testid": "login-username" });
    const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "login-password" });
    const error = h("div", { class: "error-text", role: "alert", "data-testid": "login-error" }, this.message);
    const submit = h("button", { type: "submit", class: "btn-primary", "data-testid": "login-submit" }, t("login.submit"));
    const form = h("form", { class: "panel login", onsubmit: async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      error.textContent = "";
      try {
        const login = await this.app.api.login(user.value.trim(), pass.value);
        await this.app.signedIn(login, user.value.trim());
      } catch (err) {
        error.textContent = err.status === 401 || err.status === 400 || err.status === 403 ? t("login.failed")
          : err.status === 0 ? t("error.network") : `${t("error.generic")}: ${err.message}`;
        submit.disabled = false;
      }
    } },
      h("h1", {}, "FloorOps"),
      h("div", { class: "muted" }, t("login.subtitle")),
      h("label", {}, t("login.username"), user),
      h("label", {}, t("login.password"), pass),
      error,
      submit,
      h("div", { class: "login-foot" },
        h("span", { class: "faint" }, t("login.local_only")),
        h("button", { type: "button", class: "btn-ghost", "data-testid": "login-lang",
          onclick: () => i18n.setLang(i18n.lang === "zh" ? "en" : "zh") }, i18n.lang === "zh" ? "English" : "中文")));
    root.append(h("div", { class: "login-wrap" }, form));
    setTimeout(() => user.focus(), 0);
  }
}
