-- Requests (hub/requests.py), issue #15 and #16 item 2:
-- * who acknowledged a request's page (the escalation chain stops), when, and their comment;
-- * a wheelchair request's station: the nearest charger with a charged chair when it was raised (NULL: none
--   had stock, the request is dispatched all the same and flagged);
-- * a notice's delivery through the notify outbox: pending, sent, failed (its last error) or no_channel.
ALTER TABLE requests ADD COLUMN acked_by TEXT;
ALTER TABLE requests ADD COLUMN acked_at REAL;
ALTER TABLE requests ADD COLUMN ack_comment TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN station TEXT;
ALTER TABLE requests ADD COLUMN station_zone TEXT;
ALTER TABLE request_notices ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE request_notices ADD COLUMN error TEXT NOT NULL DEFAULT '';
