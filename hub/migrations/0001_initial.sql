-- The hub's own state: people, devices, live-state snapshot, alarms, tickets, dispatches, events, audit.
-- Times are epoch seconds (REAL); the API renders them as ISO 8601 with the site's UTC offset.
CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    person        TEXT NOT NULL DEFAULT '',
    created_at    REAL NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    zone          TEXT NOT NULL,
    queue         TEXT NOT NULL DEFAULT '',
    mqtt_username TEXT NOT NULL DEFAULT '',
    created_at    REAL NOT NULL,
    state         TEXT NOT NULL DEFAULT 'unknown',
    last_seen     REAL,
    readings      TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE zone_state (
    zone         TEXT PRIMARY KEY,
    occupancy    REAL,
    occupancy_at REAL,
    crowd_since  REAL
);
CREATE TABLE queue_state (
    queue      TEXT PRIMARY KEY,
    zone       TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    waiting    INTEGER NOT NULL,
    avg_wait_s REAL NOT NULL,
    at         REAL NOT NULL
);
-- Records already applied: the broker redelivers what the hub did not acknowledge.
CREATE TABLE seen_records (
    device_id   TEXT NOT NULL,
    channel     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (device_id, channel, seq, ts)
) WITHOUT ROWID;
CREATE INDEX seen_records_age ON seen_records(received_at);
CREATE TABLE alarms (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    type                TEXT NOT NULL,
    severity            TEXT NOT NULL,
    source              TEXT NOT NULL,
    device_id           TEXT NOT NULL DEFAULT '',
    kind                TEXT NOT NULL DEFAULT '',
    zone                TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL,
    raised_at           REAL NOT NULL,
    updated_at          REAL NOT NULL,
    acked_at            REAL,
    acked_by            TEXT,
    cleared_at          REAL,
    cleared_by          TEXT,
    count               INTEGER NOT NULL DEFAULT 1,
    flapping            INTEGER NOT NULL DEFAULT 0,
    escalated           INTEGER NOT NULL DEFAULT 0,
    clear_pending_since REAL,
    last_signal_ts      INTEGER NOT NULL DEFAULT 0,
    detail              TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX alarms_key ON alarms(source, type, state);
CREATE INDEX alarms_state ON alarms(state);
CREATE TABLE alarm_history (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id INTEGER NOT NULL,
    at       REAL NOT NULL,
    action   TEXT NOT NULL,
    actor    TEXT NOT NULL DEFAULT '',
    detail   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX alarm_history_alarm ON alarm_history(alarm_id);
CREATE TABLE tickets (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id       INTEGER NOT NULL,
    device_id      TEXT NOT NULL,
    kind           TEXT NOT NULL DEFAULT '',
    zone           TEXT NOT NULL DEFAULT '',
    fault          TEXT NOT NULL,
    severity       TEXT NOT NULL,
    state          TEXT NOT NULL,
    assignee       TEXT,
    opened_at      REAL NOT NULL,
    respond_due_at REAL NOT NULL,
    due_at         REAL NOT NULL,
    accepted_at    REAL,
    resolved_at    REAL,
    resolution     TEXT,
    resolved_by    TEXT,
    reopened       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tickets_state ON tickets(state);
CREATE INDEX tickets_device ON tickets(device_id, fault);
CREATE TABLE ticket_history (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL,
    at        REAL NOT NULL,
    action    TEXT NOT NULL,
    actor     TEXT NOT NULL DEFAULT '',
    detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE dispatches (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id   INTEGER,
    zone         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    alarm_id     INTEGER,
    state        TEXT NOT NULL,
    assignee     TEXT NOT NULL,
    person_id    TEXT NOT NULL,
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL,
    answered_at  REAL,
    completed_at REAL,
    attempt      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX dispatches_state ON dispatches(state);
CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    type     TEXT NOT NULL,
    at       REAL NOT NULL,
    data     TEXT NOT NULL,
    audience TEXT NOT NULL DEFAULT ''
);
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     REAL NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE zone_buckets (
    zone         TEXT NOT NULL,
    bucket_start REAL NOT NULL,
    arrivals     INTEGER NOT NULL DEFAULT 0,
    written      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (zone, bucket_start)
);
