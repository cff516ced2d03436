-- Commands sent to queue screens (hub.screens): what each screen was told to show and whether it said so.
-- state: pending (not on the wire yet: screen offline or broker away), sent, acked, superseded (a newer
-- command of the same slot replaced it before its ack), expired.
CREATE TABLE screen_commands (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL,
    acked_at REAL,
    expires_at REAL NOT NULL,
    actor TEXT NOT NULL DEFAULT ''
);
CREATE INDEX screen_commands_device ON screen_commands(device_id, created_at);
CREATE INDEX screen_commands_state ON screen_commands(state);
