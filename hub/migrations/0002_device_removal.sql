-- A removed device keeps its row (alarms, tickets and the audit log still name it) but leaves live state:
-- removed_at is set by the registry's empty payload (python -m hub devices remove) and cleared when the
-- device is registered again.
ALTER TABLE devices ADD COLUMN removed_at REAL;
