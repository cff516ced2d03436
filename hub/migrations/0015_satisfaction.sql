-- Satisfaction terminals (hub.satisfaction): the presses of each terminal per local day, one count per
-- button, from which a zone's daily 0-100 score is computed (mean of the presses: 100/75/50/25/0). The
-- zone is the terminal's zone when it was pressed; ``day`` is the site's local date of the press.
CREATE TABLE satisfaction_presses (
    zone               TEXT NOT NULL,
    day                TEXT NOT NULL,
    device_id          TEXT NOT NULL,
    very_satisfied     INTEGER NOT NULL DEFAULT 0,
    satisfied          INTEGER NOT NULL DEFAULT 0,
    neutral            INTEGER NOT NULL DEFAULT 0,
    dissatisfied       INTEGER NOT NULL DEFAULT 0,
    very_dissatisfied  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (zone, day, device_id)
);
CREATE INDEX satisfaction_presses_day ON satisfaction_presses(day);
-- Corrective-action tickets of the satisfaction_low rule: one per zone at a time (state open or
-- acknowledged), for the zone's floor manager, with a due date; ``streak`` the days below the threshold
-- that opened it (JSON), ``followup_from``..``followup_to`` the days checked after it, ``followup`` their
-- scores (JSON) and ``verdict`` the result ('' not checked yet, improved, not_improved, no_data).
CREATE TABLE satisfaction_actions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    zone           TEXT NOT NULL,
    owner          TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL DEFAULT 'open',   -- open, acknowledged, closed
    opened_at      REAL NOT NULL,
    due_at         REAL NOT NULL,
    streak         TEXT NOT NULL,
    last_streak_day TEXT NOT NULL,
    followup_from  TEXT NOT NULL,
    followup_to    TEXT NOT NULL,
    followup       TEXT NOT NULL DEFAULT '[]',
    verdict        TEXT NOT NULL DEFAULT '',
    checked_at     REAL,
    acknowledged_at REAL,
    acknowledged_by TEXT,
    closed_at      REAL,
    closed_by      TEXT,
    alarm_id       INTEGER
);
CREATE INDEX satisfaction_actions_zone ON satisfaction_actions(zone, state);
-- The thread of a corrective action: the floor manager's notes and the follow-up's result.
CREATE TABLE satisfaction_action_notes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id  INTEGER NOT NULL REFERENCES satisfaction_actions(id),
    at         REAL NOT NULL,
    author     TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX satisfaction_action_notes_action ON satisfaction_action_notes(action_id);
