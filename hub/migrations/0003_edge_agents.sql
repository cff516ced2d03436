-- Edge agents as their retained status topic describes them (floorops/<site>/agent/<id>/status).
-- ts: the agent's own time of the status (epoch ms), to recognise the retained copy delivered again;
-- since: hub time of the last change of state; seen_at: hub time of the last status message.
CREATE TABLE agents (
    id      TEXT PRIMARY KEY,
    state   TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    since   REAL NOT NULL,
    seen_at REAL NOT NULL
);
