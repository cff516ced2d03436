-- Webhook deliveries waiting to be sent (hub/webhooks.py), one row per forwarded event and receiver,
-- written in the same transaction as the event: a crash after the commit loses none, a rollback sends none.
-- key: the idempotency key (webhook-id header), the same on every retry; priority: what is dropped last
-- when the outbox is over its bound (a critical alarm.raised never is); state: pending|delivered|failed;
-- next_at, done_at: epoch seconds (wall clock).
CREATE TABLE webhook_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT NOT NULL UNIQUE,
    url        TEXT NOT NULL,
    event_id   INTEGER NOT NULL,
    type       TEXT NOT NULL,
    priority   INTEGER NOT NULL,
    body       TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending',
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    REAL NOT NULL,
    created_at REAL NOT NULL,
    done_at    REAL,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_at);
CREATE INDEX webhook_outbox_drop ON webhook_outbox (state, priority, id);
