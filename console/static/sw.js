// The console's service worker, for one thing: a page's system notification with an "Acknowledge" button
// (browsers offer notification buttons only to service workers). The button acknowledges the alarm (or the
// request: the notification's ackUrl, js/pager.js) with the session cookie, without opening the console; a
// click elsewhere on the notification opens or focuses it.
// Registered by js/pager.js where the browser allows it (a secure context: HTTPS or localhost).

async function acknowledge(alarmId, ackUrl) {
  const url = typeof ackUrl === "string" && ackUrl.startsWith("/api/") ? ackUrl : `/api/alarms/${encodeURIComponent(alarmId)}/ack`;
  const r = await fetch(url, {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: "{}",
  });
  return r.ok;
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
  event.notification.close();
  if (event.action === "ack" && alarmId !== undefined) {
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
});
