-- Issue #15 items 3-5: alarms get an assignee, a comment thread and the silence that muted them; escalation
-- chains keep their progress here (one row per subject being escalated); every page to a person goes
-- through notify_outbox (one row per event, person, step and channel; ``key`` is the idempotency key,
-- written in the same transaction as the change that pages); silences and maintenance windows.
ALTER TABLE alarms ADD COLUMN assignee TEXT;
ALTER TABLE alarms ADD COLUMN silenced_by INTEGER;
CREATE TABLE alarm_comments (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id INTEGER NOT NULL REFERENCES alarms(id),
    at       REAL NOT NULL,
    author   TEXT NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX alarm_comments_alarm ON alarm_comments(alarm_id, id);
-- subject_kind: "alarm" (or "request", from the requests module); step: index of the chain step reached;
-- step_at: when it was reached (wall clock of the hub's Clock); reminders: how many sent at this step.
CREATE TABLE escalations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    chain        TEXT NOT NULL,
    step         INTEGER NOT NULL DEFAULT 0,
    step_at      REAL NOT NULL,
    reminders    INTEGER NOT NULL DEFAULT 0,
    state        TEXT NOT NULL DEFAULT 'running',
    started_at   REAL NOT NULL,
    stopped_at   REAL,
    stopped_by   TEXT NOT NULL DEFAULT '',
    UNIQUE (subject_kind, subject_id)
);
CREATE INDEX escalations_running ON escalations(state);
CREATE TABLE notify_outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL UNIQUE,
    channel      TEXT NOT NULL,
    person_id    TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    step         INTEGER NOT NULL,
    urgent       INTEGER NOT NULL DEFAULT 0,
    message      TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      REAL NOT NULL,
    created_at   REAL NOT NULL,
    done_at      REAL,
    last_error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notify_outbox_due ON notify_outbox(state, next_at);
CREATE INDEX notify_outbox_subject ON notify_outbox(subject_kind, subject_id, state);
-- matchers: JSON {device_ids, zones, kinds, types} (an empty list matches everything of that field);
-- starts_at/ends_at: a one-off window; weekly: JSON {days: ["sun"], start: "02:00", end: "04:00"} in the
-- site's timezone, between starts_at and expires_at; deleted_at: lifted by hand before its expiry.
CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers   TEXT NOT NULL,
    starts_at  REAL NOT NULL,
    ends_at    REAL,
    weekly     TEXT,
    expires_at REAL NOT NULL,
    reason     TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at REAL NOT NULL,
    deleted_at REAL,
    deleted_by TEXT NOT NULL DEFAULT ''
);
