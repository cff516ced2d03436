// The printable report's one button (GET /reports/print): the hub's Content-Security-Policy allows no
// inline script, so the page loads this file.
document.getElementById("print-button")?.addEventListener("click", () => window.print());
