-- A roster that people edit (issue #15 item 6, hub/roster.py). People with their role, zones, standing
-- shift, contact points and what pages reach them; seeded once from the roster file (cfg.hub.roster_file)
-- on the first start, then edited through /api/people. List fields are JSON arrays.
CREATE TABLE people (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    name_zh     TEXT NOT NULL DEFAULT '',
    role        TEXT NOT NULL,
    username    TEXT NOT NULL DEFAULT '',
    zones       TEXT NOT NULL DEFAULT '[]',
    shift       TEXT NOT NULL DEFAULT '00:00-24:00',
    days        TEXT NOT NULL DEFAULT '["mon","tue","wed","thu","fri","sat","sun"]',
    on_duty     INTEGER NOT NULL DEFAULT 1,
    elastic     INTEGER NOT NULL DEFAULT 0,
    email       TEXT NOT NULL DEFAULT '',
    phone       TEXT NOT NULL DEFAULT '',
    channels    TEXT NOT NULL DEFAULT '[]',
    events      TEXT NOT NULL DEFAULT '[]',
    quiet_hours TEXT NOT NULL DEFAULT '',
    updated_at  REAL NOT NULL
);
-- A day's plan, by the hour (the staffing plan's grain): one row per person and local hour they work, in the
-- zone named ('' : their own zones). status 'proposed' is the draft a floor manager edits; 'published' is
-- what the dispatcher, tickets and escalation use for that day (a day without a published plan follows each
-- person's standing shift). Publishing copies the draft over the published rows.
CREATE TABLE roster_hours (
    day        TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('proposed', 'published')),
    person_id  TEXT NOT NULL,
    hour       INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    zone       TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL DEFAULT 'proposal',
    PRIMARY KEY (day, status, person_id, hour)
);
-- Who proposed, edited and published a day's plan, and when (each change also has its audit entry).
CREATE TABLE roster_plans (
    day          TEXT PRIMARY KEY,
    proposed_at  REAL,
    proposed_by  TEXT NOT NULL DEFAULT '',
    edited_at    REAL,
    edited_by    TEXT NOT NULL DEFAULT '',
    published_at REAL,
    published_by TEXT NOT NULL DEFAULT '',
    unfilled     TEXT NOT NULL DEFAULT '[]'
);
