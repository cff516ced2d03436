-- Queue service levels: one row per ticket a calling screen issued, its call and its outcome (served or
-- no-show), so that a hub restart loses no ticket (the share called within target would be falsified).
-- ``day`` is the site's local date of the issue: the day the ticket counts for. Times are device times (s).
CREATE TABLE queue_tickets (
    queue      TEXT NOT NULL,
    ticket     TEXT NOT NULL,
    zone       TEXT NOT NULL,
    day        TEXT NOT NULL,
    issued_at  REAL NOT NULL,
    called_at  REAL,
    outcome    TEXT NOT NULL DEFAULT '',   -- '' open, 'served', 'no_show'
    ended_at   REAL,
    PRIMARY KEY (queue, day, ticket, issued_at)
);
CREATE INDEX queue_tickets_open ON queue_tickets(queue, ticket, called_at);
CREATE INDEX queue_tickets_day ON queue_tickets(day, queue);
-- Wheelchairs per charging station and hour (hour_start: epoch s of the local hour): chairs taken
-- (a docked slot gone empty: demand), chairs returned, and the fewest charged chairs seen in the hour.
CREATE TABLE wheelchair_hours (
    station      TEXT NOT NULL,
    zone         TEXT NOT NULL,
    hour_start   REAL NOT NULL,
    taken        INTEGER NOT NULL DEFAULT 0,
    returned     INTEGER NOT NULL DEFAULT 0,
    min_charged  INTEGER,
    PRIMARY KEY (station, hour_start)
);
CREATE INDEX wheelchair_hours_at ON wheelchair_hours(hour_start);
