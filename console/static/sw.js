// The console's service worker, for notification buttons (browsers offer them only to service workers): a
// page's "Acknowledge" acknowledges the alarm (or the request: the notification's ackUrl, js/pager.js), a
// dispatch offer's "Accept" accepts it (js/offers.js), with the session cookie, without opening the console;
// a click elsewhere on the notification opens or focuses it.
// Registered by js/pager.js where the browser allows it (a secure context: HTTPS or localhost).

async function acknowledge(alarmId, ackUrl) {
  const url = typeof ackUrl === "string" && ackUrl.startsWith("/api/") ? ackUrl : `/api/alarms/${encodeURIComponent(alarmId)}/ack`;
  const r = await fetch(url, {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: "{}",
  });
  return r.ok;
}

/** Accept a dispatch offer; the dispatch's JSON when the hub took it, else null (taken back, expired ...). */
async function accept(dispatchId) {
  const r = await fetch(`/api/dispatches/${encodeURIComponent(dispatchId)}/accept`, {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: "{}",
  });
  return r.ok ? r.json() : null;
}

/** Tell the open console pages (they show the accepted offer at once). */
async function tell(message) {
  const clients = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const c of clients) c.postMessage(message);
}

async function focusConsole(alarmId) {
  const clients = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const c of clients) {
    c.postMessage({ type: "page.focus", alarmId });
    if ("focus" in c) return c.focus();
  }
  return self.clients.openWindow("/");
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("notificationclick", (event) => {
  const alarmId = event.notification.data?.alarmId;
  const dispatchId = event.notification.data?.dispatchId;
  event.notification.close();
  if (event.action === "accept" && dispatchId !== undefined) {
    event.waitUntil(accept(dispatchId).then((dispatch) => (dispatch
      ? tell({ type: "dispatch.accepted", dispatchId, ok: true, dispatch }) : focusConsole())));
  } else if (event.action === "ack" && alarmId !== undefined) {
    event.waitUntil(acknowledge(alarmId, event.notification.data?.ackUrl).then((ok) => (ok ? undefined : focusConsole(alarmId))));
  } else {
    event.waitUntil(focusConsole(alarmId));
  }
});

// The same acknowledgement on request of the page (and of tests, which cannot click a system notification).
self.addEventListener("message", (event) => {
  if (event.data?.type === "page.ack") {
    event.waitUntil(acknowledge(event.data.alarmId, event.data.ackUrl).then((ok) => event.source?.postMessage({ type: "page.acked", alarmId: event.data.alarmId, ok })));
  }
  if (event.data?.type === "dispatch.accept") {
    event.waitUntil(accept(event.data.dispatchId).then((dispatch) => event.source?.postMessage(
      { type: "dispatch.accepted", dispatchId: event.data.dispatchId, ok: dispatch !== null, dispatch })));
  }
});
