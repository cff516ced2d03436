// Admin: users, devices (provisioning shows the MQTT credentials once), rule thresholds.
import { h, fill, toast } from "../dom.js";
import { byId, errorText, RenderQueue, rowsOf, rowsOrUnavailable, unavailable } from "./common.js";

const ROLES = ["monitor", "floor_manager", "maintenance", "admin"];

const SEVERITIES = ["critical", "major", "minor", "warning"];

/** Flatten {a: {b: 1}} to [["a.b", 1]] for editing: numbers, booleans and severities; the rest is kept as is. */
export function flattenRules(obj, prefix = "") {
  const out = [];
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) out.push(...flattenRules(v, key));
    else if (typeof v === "number" || typeof v === "boolean" || SEVERITIES.includes(v)) out.push([key, v]);
  }
  return out;
}

/** "rules.card_jam" -> the alarm's name; "tickets.repair_min" -> "Tickets · repair min". */
function ruleGroupLabel(i, group) {
  const parts = group.split(".");
  if (parts[0] === "rules" && parts[1]) return [i.term("alarm", parts[1]), ...parts.slice(2).map((p) => i.term("rule", p))].join(" · ");
  return [i.term("rule_group", parts[0]), ...parts.slice(1).map((p) => i.term("rule", p))].join(" · ");
}

function setPath(obj, dotted, value) {
  const parts = dotted.split(".");
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = cur[p];
  cur[parts[parts.length - 1]] = value;
}

export class AdminView {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
  }

  mount(root) {
    const i = this.i18n;
    this.usersEl = h("div", { class: "scroll" });
    this.devicesEl = h("div", { class: "scroll" });
    this.rulesEl = h("div", {});
    this.secretEl = h("div", { "data-testid": "device-credentials" });
    root.append(h("div", { class: "admin", "data-testid": "view-admin" },
      h("section", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", {}, i.t("admin.users"))), this.userForm(), this.usersEl),
      h("section", { class: "panel" }, h("div", { class: "panel-head" }, h("h2", {}, i.t("admin.devices"))), this.deviceForm(), this.secretEl, this.devicesEl),
      h("section", { class: "panel", style: "grid-column: 1 / -1" }, h("div", { class: "panel-head" }, h("h2", {}, i.t("admin.rules"))), this.rulesEl)));
    this.queue = new RenderQueue({ devices: () => this.renderDevices() });
    this.onChange = (ev) => { if (ev.detail.collection === "devices") this.queue.mark("devices"); };
    this.app.store.addEventListener("change", this.onChange);
    this.loadUsers();
    this.renderDevices();
    this.loadRules();
  }

  unmount() {
    this.app.store.removeEventListener("change", this.onChange);
    this.queue.cancel();
  }

  // -- users -----------------------------------------------------------------------------------------

  userForm() {
    const i = this.i18n;
    const name = h("input", { name: "new-username", required: true, pattern: "[A-Za-z0-9_.-]{1,64}", "data-testid": "user-name" });
    const role = h("select", { "data-testid": "user-role" }, ROLES.map((r) => h("option", { value: r }, i.term("role", r))));
    const pass = h("input", { type: "password", required: true, minLength: 8, autocomplete: "new-password", "data-testid": "user-password" });
    const err = h("div", { class: "error-text" });
    return h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      try {
        await this.app.api.post("/api/users", { username: name.value.trim(), role: role.value, password: pass.value });
        toast(i.t("admin.user_added", { name: name.value.trim() }), "info");
        name.value = "";
        pass.value = "";
        this.loadUsers();
      } catch (e) {
        err.textContent = errorText(i, e);
      }
    } },
    h("div", { class: "form-row" }, h("label", {}, i.t("admin.username"), name), h("label", {}, i.t("admin.role"), role),
      h("label", {}, i.t("admin.password"), pass), h("button", { class: "btn-primary", type: "submit", "data-testid": "user-add" }, i.t("admin.add_user"))),
    err);
  }

  async loadUsers() {
    const i = this.i18n;
    try {
      const users = rowsOf(await this.app.api.get("/api/users"), "users");
      // The hub names a user's person by roster id: show the person's name when the roster is readable.
      const roster = await this.app.api.get("/api/roster").then((r) => rowsOf(r, "people", "roster")).catch(() => []);
      const nameOf = new Map(roster.map((p) => [p.id, (i.lang === "zh" && p.name_zh) || p.name]));
      fill(this.usersEl, h("table", { "data-testid": "users" },
        h("thead", {}, h("tr", {}, h("th", {}, i.t("admin.username")), h("th", {}, i.t("admin.role")), h("th", {}, i.t("admin.person")))),
        h("tbody", {}, users.map((u) => h("tr", {}, h("td", {}, u.username), h("td", {}, i.term("role", u.role)), h("td", { class: "muted" }, nameOf.get(u.person) || u.person || ""))))));
    } catch (e) {
      fill(this.usersEl, e.unavailable ? unavailable(i, "/api/users") : h("div", { class: "error-text" }, errorText(i, e)));
    }
  }

  // -- devices ---------------------------------------------------------------------------------------

  deviceForm() {
    const i = this.i18n;
    const id = h("input", { required: true, pattern: "[A-Za-z0-9_-]{1,64}", "data-testid": "device-id" });
    const kind = h("select", { "data-testid": "device-kind" }, (this.app.site?.device_kinds || []).map((k) => h("option", { value: k.name }, i.term("kind", k.name))));
    const zone = h("select", { "data-testid": "device-zone" }, (this.app.site?.zones || []).map((z) => h("option", { value: z.id }, i.zoneName(z))));
    const err = h("div", { class: "error-text" });
    return h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      try {
        const creds = await this.app.api.post("/api/devices", { id: id.value.trim(), kind: kind.value, zone: zone.value });
        this.showCredentials(creds);
        id.value = "";
      } catch (e) {
        err.textContent = errorText(i, e);
      }
    } },
    h("div", { class: "form-row" }, h("label", {}, i.t("admin.device_id"), id), h("label", {}, i.t("admin.kind"), kind),
      h("label", {}, i.t("admin.zone"), zone), h("button", { class: "btn-primary", type: "submit", "data-testid": "device-add" }, i.t("admin.provision"))),
    err);
  }

  /** The password is shown once: it is not kept anywhere in the console after this box is dismissed. */
  showCredentials(creds) {
    const i = this.i18n;
    const text = JSON.stringify(creds, null, 2);
    fill(this.secretEl, h("div", { class: "secret" },
      h("strong", {}, i.t("admin.credentials_once")),
      h("pre", { "data-testid": "credentials-json" }, text),
      h("div", { class: "form-row" },
        h("button", { class: "btn", type: "button", onclick: () => navigator.clipboard?.writeText(text).then(() => toast(i.t("admin.copied"))).catch(() => {}) }, i.t("admin.copy")),
        h("button", { class: "btn-ghost", type: "button", "data-testid": "credentials-dismiss", onclick: () => fill(this.secretEl) }, i.t("admin.dismiss")))));
  }

  renderDevices() {
    const i = this.i18n;
    const devices = rowsOrUnavailable(i, this.app.store, "devices", this.devicesEl)?.sort(byId);
    if (!devices) return;
    fill(this.devicesEl, h("table", { "data-testid": "device-table" },
      h("thead", {}, h("tr", {}, ["device_id", "kind", "zone", "state", "last_seen", "actions"].map((c) => h("th", {}, i.t(`admin.${c}`))))),
      h("tbody", {}, devices.map((d) => h("tr", { dataset: { device: d.id } }, h("td", {}, d.id), h("td", {}, i.term("kind", d.kind)),
        h("td", {}, i.zoneName(this.app.zone(d.zone))), h("td", {}, i.term("device_state", d.state)), h("td", { class: "muted num" }, i.dateTime(d.last_seen)),
        h("td", { class: "actions" }, this.removeCell(d.id)))))));
  }

  /** Remove, then a confirmation in the row itself (which device, what it does) before the hub is asked.
   * The confirmation is kept across re-renders (live updates re-draw the table) until answered. */
  removeCell(id) {
    const i = this.i18n;
    if (this.confirmingRemoval !== id) {
      return h("button", { class: "btn-ghost", type: "button", "data-testid": "device-remove",
        onclick: () => { this.confirmingRemoval = id; this.removeError = ""; this.renderDevices(); } }, i.t("admin.remove"));
    }
    return h("div", { class: "confirm", role: "alertdialog", "data-testid": "device-remove-confirm" },
      h("span", {}, i.t("admin.remove_confirm", { id })),
      h("div", { class: "form-row" },
        h("button", { class: "btn-danger", type: "button", "data-testid": "device-remove-yes", onclick: (ev) => this.removeDevice(id, ev.target) }, i.t("admin.remove_yes")),
        h("button", { class: "btn-ghost", type: "button", "data-testid": "device-remove-no",
          onclick: () => { this.confirmingRemoval = null; this.removeError = ""; this.renderDevices(); } }, i.t("admin.cancel"))),
      this.removeError ? h("div", { class: "error-text" }, this.removeError) : null);
  }

  /** DELETE /api/devices/{id}; the row leaves the table on the hub's device.removed event. */
  async removeDevice(id, button) {
    const i = this.i18n;
    button.disabled = true;
    try {
      await this.app.api.delete(`/api/devices/${encodeURIComponent(id)}`);
      this.confirmingRemoval = null;
      toast(i.t("admin.device_removed", { id }), "info");
    } catch (e) {
      this.removeError = errorText(i, e);
    }
    this.renderDevices();
  }

  // -- rules -----------------------------------------------------------------------------------------

  async loadRules() {
    const i = this.i18n;
    let rules;
    try {
      rules = await this.app.api.get("/api/rules");
    } catch (e) {
      fill(this.rulesEl, e.unavailable ? unavailable(i, "/api/rules") : h("div", { class: "error-text" }, errorText(i, e)));
      return;
    }
    const entries = flattenRules(rules);
    const inputs = new Map();
    const err = h("div", { class: "error-text" });
    const groups = new Map();
    for (const [key, value] of entries) {
      const parts = key.split(".");
      const group = parts.slice(0, -1).join(".") || "general";
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group).push([key, parts[parts.length - 1], value]);
    }
    const form = h("form", { "data-testid": "rules", onsubmit: async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      const updated = structuredClone(rules);
      for (const [key, [input, original]] of inputs) {
        let value;
        if (typeof original === "boolean") value = input.checked;
        else if (typeof original === "number") {
          value = input.value.trim() === "" ? NaN : Number(input.value);
          if (!Number.isFinite(value)) {
            err.textContent = i.t("admin.rule_bad", { key });
            input.focus();
            return;
          }
        } else value = input.value;
        setPath(updated, key, value);
      }
      try {
        await this.app.api.put("/api/rules", updated);
        toast(i.t("admin.rules_saved"));
        this.loadRules();
      } catch (e2) {
        err.textContent = errorText(i, e2);
      }
    } },
    h("div", { class: "rules-groups" }, [...groups.entries()].map(([group, items]) => h("fieldset", { class: "rule-group" },
      h("legend", {}, ruleGroupLabel(i, group)),
      items.map(([key, name, value]) => {
        let input;
        if (typeof value === "boolean") input = h("input", { type: "checkbox", checked: value, name: key, "data-rule": key });
        else if (typeof value === "number") input = h("input", { type: "number", step: "any", value: String(value), name: key, "data-rule": key });
        else input = h("select", { name: key, "data-rule": key }, SEVERITIES.map((sv) => h("option", { value: sv, selected: sv === value }, i.term("severity", sv))));
        inputs.set(key, [input, value]);
        return h("label", { class: typeof value === "boolean" ? "check" : "" }, i.term("rule", name), input);
      })))),
    err,
    h("div", { class: "form-row", style: "margin-top: 10px" }, h("button", { class: "btn-primary", type: "submit", "data-testid": "rules-save" }, i.t("admin.save_rules"))));
    fill(this.rulesEl, entries.length ? form : h("div", { class: "empty" }, i.t("admin.no_rules")));
  }
}
