// English and Simplified Chinese. Catalogs are JSON files in ../i18n/; a missing key shows the key itself
// (tests check both catalogs hold every key the code uses).

export const LANGUAGES = ["en", "zh"];
const LANG_KEY = "floorops.lang";

export class I18n extends EventTarget {
  constructor() {
    super();
    this.catalogs = {};
    const saved = localStorage.getItem(LANG_KEY);
    this.lang = LANGUAGES.includes(saved) ? saved : (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
    this.timeZone = undefined;
  }

  async load() {
    await Promise.all(LANGUAGES.map(async (lang) => {
      const resp = await fetch(new URL(`../i18n/${lang}.json`, import.meta.url));
      this.catalogs[lang] = resp.ok ? await resp.json() : {};
    }));
    document.documentElement.lang = this.locale;
  }

  get locale() { return this.lang === "zh" ? "zh-CN" : "en-GB"; }

  setLang(lang) {
    if (!LANGUAGES.includes(lang) || lang === this.lang) return;
    this.lang = lang;
    localStorage.setItem(LANG_KEY, lang);
    document.documentElement.lang = this.locale;
    this.dispatchEvent(new Event("change"));
  }

  /** t("alarms.count", {n: 3}) -> text with {n} filled in. */
  t(key, vars) {
    const text = this.catalogs[this.lang]?.[key] ?? this.catalogs.en?.[key] ?? key;
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  }

  /** A term from the hub (role, state, fault, severity...): translated when known, shown as-is otherwise. */
  term(group, value) {
    if (value === undefined || value === null || value === "") return "—";
    const key = `${group}.${value}`;
    const text = this.catalogs[this.lang]?.[key] ?? this.catalogs.en?.[key];
    return text ?? String(value).replace(/_/g, " ");
  }

  zoneName(zone) {
    if (!zone) return "—";
    if (this.lang === "zh" && zone.name_zh) return zone.name_zh;
    return zone.name || zone.id;
  }

  siteName(site) {
    if (!site) return "FloorOps";
    return (this.lang === "zh" && site.name_zh) || site.name || site.id;
  }

  /** Intl formatters are costly to build: one per (kind, locale, time zone), reused for every row drawn. */
  formatter(kind, make) {
    const key = `${kind}|${this.locale}|${this.timeZone}`;
    this.formatters ??= new Map();
    let f = this.formatters.get(key);
    if (!f) {
      f = make();
      this.formatters.set(key, f);
    }
    return f;
  }

  // Times show in the site's own time zone, whatever the browser's is.
  time(value, withSeconds = false) {
    const d = toDate(value);
    if (!d) return "—";
    return this.formatter(withSeconds ? "hms" : "hm", () => new Intl.DateTimeFormat(this.locale, {
      hour: "2-digit", minute: "2-digit", second: withSeconds ? "2-digit" : undefined, hour12: false, timeZone: this.timeZone,
    })).format(d);
  }

  dateTime(value) {
    const d = toDate(value);
    if (!d) return "—";
    return this.formatter("mdhm", () => new Intl.DateTimeFormat(this.locale, {
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false, timeZone: this.timeZone,
    })).format(d);
  }

  /** A duration in seconds as "4 min", "1 h 12 min", "38 s". */
  duration(seconds) {
    if (seconds === undefined || seconds === null || Number.isNaN(Number(seconds))) return "—";
    const sec = Math.max(0, Math.round(Number(seconds)));
    if (sec < 60) return this.t("unit.s", { n: sec });
    const min = Math.round(sec / 60);
    if (min < 60) return this.t("unit.min", { n: min });
    return this.t("unit.h_min", { h: Math.floor(min / 60), m: min % 60 });
  }

  number(value, digits = 0) {
    if (value === undefined || value === null || Number.isNaN(Number(value))) return "—";
    return this.formatter(`n${digits}`, () => new Intl.NumberFormat(this.locale, { maximumFractionDigits: digits, minimumFractionDigits: digits })).format(Number(value));
  }

  percent(value, digits = 1) {
    if (value === undefined || value === null || Number.isNaN(Number(value))) return "—";
    // The hub gives rates as 0..1.
    return new Intl.NumberFormat(this.locale, { style: "percent", maximumFractionDigits: digits }).format(Number(value));
  }
}

export function toDate(value) {
  if (value === undefined || value === null || value === "") return null;
  const d = typeof value === "number" ? new Date(value) : new Date(String(value));
  return Number.isNaN(d.getTime()) ? null : d;
}
