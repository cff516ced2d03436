// Reports in the operations view (issue #16 item 7): a day, ISO week, month or quarter of KPIs from
// GET /api/reports, downloaded as CSV (/api/reports.csv) or opened as the printable page (/reports/print)
// in the console's language. The links carry no token: the session cookie authenticates them.
import { h, fill } from "../dom.js";
import { errorText, siteDate } from "./common.js";

const PERIODS = ["day", "week", "month", "quarter"];

export class ReportsPanel {
  constructor(app) {
    this.app = app;
    this.i18n = app.i18n;
  }

  mount(parent) {
    const i = this.i18n;
    const tz = this.app.site?.timezone;
    this.period = h("select", { "data-testid": "report-period", "aria-label": i.t("reports.period") },
      PERIODS.map((p) => h("option", { value: p }, i.t(`reports.period.${p}`))));
    this.period.value = "month";
    this.date = h("input", { type: "date", value: siteDate(tz), required: true, "data-testid": "report-date",
      "aria-label": i.t("reports.date") });
    this.csv = h("a", { class: "btn", "data-testid": "report-csv", download: "" }, i.t("reports.csv"));
    this.print = h("a", { class: "btn", "data-testid": "report-print", target: "_blank", rel: "noopener" },
      i.t("reports.print"));
    this.summaryEl = h("div", { class: "panel-body", "data-testid": "report-summary" });
    for (const el of [this.period, this.date]) el.addEventListener("change", () => this.update());
    parent.append(h("section", { class: "panel", "data-testid": "reports" },
      h("div", { class: "panel-head" }, h("h2", {}, i.t("reports.title"))),
      h("div", { class: "report-form" },
        h("label", {}, i.t("reports.period"), " ", this.period),
        h("label", {}, i.t("reports.date"), " ", this.date),
        this.csv, this.print),
      this.summaryEl));
    this.update();
  }

  unmount() {}

  query() {
    const q = new URLSearchParams({ period: this.period.value, date: this.date.value || siteDate(this.app.site?.timezone),
      lang: this.i18n.lang === "zh" ? "zh" : "en" });
    return q.toString();
  }

  async update() {
    const i = this.i18n;
    const q = this.query();
    this.csv.href = `/api/reports.csv?${q}`;
    this.print.href = `/reports/print?${q}`;
    let report;
    try {
      report = await this.app.api.get(`/api/reports?${q}`);
    } catch (e) {
      fill(this.summaryEl, h("div", { class: "error-text" }, errorText(i, e)));
      return;
    }
    if (q !== this.query()) return;  // changed meanwhile
    const t = report.totals;
    const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
    const min = (v) => (v === null || v === undefined ? "—" : (v / 60).toFixed(1));
    const rows = [
      ["reports.visits", t.visits],
      ["reports.service_level", pct(t.service_level)],
      ["reports.fault_rate", `${pct(t.fault_rate)} (≤ ${pct(report.targets.fault_rate)})`],
      ["reports.tickets", `${t.tickets_opened} / ${t.tickets_closed} / ${t.tickets_overdue}`],
      ["reports.mttr", min(t.mttr_s)],
      ["reports.requests", `${t.requests} · ${pct(t.requests_within_target_share)}`],
    ];
    fill(this.summaryEl, h("p", { class: "muted" }, i.t("reports.range", { from: report.from, to: report.to })),
      h("table", { class: "report-summary" }, h("tbody", {}, rows.map(([k, v]) =>
        h("tr", {}, h("th", {}, i.t(k)), h("td", { "data-key": k }, String(v)))))));
  }
}
