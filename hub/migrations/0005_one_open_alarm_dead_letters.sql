-- One open alarm per key (source, type), enforced by the database and not only by AlarmManager.open.
-- A database written before this migration may already hold several open alarms of one key: the oldest
-- stays open, the others are closed (cleared_by = 'duplicate', a line in their history) before the index.
INSERT INTO alarm_history(alarm_id, at, action, actor, detail)
    SELECT a.id, strftime('%s','now'), 'cleared', '', '{"duplicate_of_open_alarm": true}'
    FROM alarms a
    WHERE a.state != 'cleared'
      AND a.id != (SELECT MIN(b.id) FROM alarms b WHERE b.source = a.source AND b.type = a.type AND b.state != 'cleared');
UPDATE alarms SET state = 'cleared', cleared_at = strftime('%s','now'), cleared_by = 'duplicate',
                  updated_at = strftime('%s','now'), clear_pending_since = NULL
    WHERE state != 'cleared'
      AND id != (SELECT MIN(b.id) FROM alarms b WHERE b.source = alarms.source AND b.type = alarms.type
                 AND b.state != 'cleared');
CREATE UNIQUE INDEX alarms_one_open ON alarms(source, type) WHERE state != 'cleared';
-- Records that failed alone (the careful per-message pass) for a reason of their own: kept with the
-- reason for an admin to read, acknowledged to the broker so that they do not block the records after them.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    topic       TEXT NOT NULL,
    agent_id    TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL,
    payload     BLOB NOT NULL
);
CREATE INDEX dead_letters_at ON dead_letters(received_at);
