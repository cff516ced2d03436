-- The daily reports sent (hub.report_schedule): one row per report, written in the transaction that puts
-- its messages in the notify outbox, so a restart never sends the same day's report twice.
CREATE TABLE report_sends (
    period   TEXT NOT NULL,
    day      TEXT NOT NULL,
    sent_at  REAL NOT NULL,
    messages INTEGER NOT NULL,
    PRIMARY KEY (period, day)
);
