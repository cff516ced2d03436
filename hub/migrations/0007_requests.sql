-- Requests raised by people (hub/requests.py): assist, emergency, work_order, repair, complaint. A request
-- that needs someone to go is served by the dispatch machinery (dispatches.service_request); a repair is a
-- manual maintenance ticket (requests.ticket_id). The complainant's phone (optional, for the closure notice)
-- is the only personal datum; it is blanked when the notice is sent and deleted with the request.
CREATE TABLE requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    zone         TEXT NOT NULL,
    topic        TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT '',
    complex      INTEGER NOT NULL DEFAULT 0,
    priority     INTEGER NOT NULL,
    source       TEXT NOT NULL,
    raised_by    TEXT NOT NULL DEFAULT '',
    phone        TEXT,
    state        TEXT NOT NULL,
    raised_at    REAL NOT NULL,
    due_at       REAL NOT NULL,
    answered_at  REAL,
    closed_at    REAL,
    closed_by    TEXT,
    resolution   TEXT NOT NULL DEFAULT '',
    escalated_to TEXT NOT NULL DEFAULT '',
    repeat_of    INTEGER,
    ticket_id    INTEGER,
    notified_at  REAL
);
CREATE INDEX requests_state ON requests(state);
CREATE INDEX requests_topic ON requests(kind, zone, topic, raised_at);
-- Notices to complainants and escalations, for a notifier channel to send (hub.requests.Notifier).
CREATE TABLE request_notices (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL,
    at         REAL NOT NULL,
    kind       TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    text       TEXT NOT NULL,
    sent_at    REAL
);
-- Dispatch you can measure: arrival confirmed on the phone, the job's priority, the request it serves.
ALTER TABLE dispatches ADD COLUMN arrived_at REAL;
ALTER TABLE dispatches ADD COLUMN priority INTEGER NOT NULL DEFAULT 40;
ALTER TABLE dispatches ADD COLUMN service_request INTEGER;
CREATE INDEX dispatches_service_request ON dispatches(service_request);
