// The hub's HTTP API (docs/console.md lists the routes used). One place for auth headers and errors.

const TOKEN_KEY = "floorops.token";

export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.status = status;
    this.path = path;
  }
  /** The hub has no such route (yet): the console shows "not available" instead of failing. */
  get unavailable() {
    return this.status === 404 || this.status === 405 || this.status === 501;
  }
}

export class Api extends EventTarget {
  constructor(base = "") {
    super();
    this.base = base;
    this.token = sessionStorage.getItem(TOKEN_KEY) || "";
  }

  setToken(token) {
    this.token = token || "";
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  async request(method, path, body) {
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    // Every write says JSON, body or not: the hub refuses cookie-authenticated writes of any other type.
    if (body !== undefined || method !== "GET") headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(this.base + path, {
        method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "network", path);
    }
    const text = await resp.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!resp.ok) {
      const message = (data && data.error) || resp.statusText || `HTTP ${resp.status}`;
      const err = new ApiError(resp.status, message, path);
      if (resp.status === 401 && path !== "/api/login") this.dispatchEvent(new Event("unauthorized"));
      throw err;
    }
    return data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body = {}) { return this.request("POST", path, body); }
  put(path, body) { return this.request("PUT", path, body); }
  patch(path, body) { return this.request("PATCH", path, body); }
  delete(path) { return this.request("DELETE", path); }

  async login(username, password) {
    const data = await this.post("/api/login", { username, password });
    this.setToken(data.token);
    return data;
  }

  logout() {
    // Best effort: the hub may offer /api/logout to drop the cookie; the token is forgotten either way.
    this.request("POST", "/api/logout", {}).catch(() => {});
    this.setToken("");
  }

  /** WebSocket URL. No token in it (proxies log URLs): the browser sends the session cookie on the upgrade. */
  wsUrl(since) {
    const url = new URL(this.base + "/ws", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (since !== null && since !== undefined) url.searchParams.set("since", String(since));
    return url.toString();
  }
}
