-- The ledger summary counts settled reservations of the last hour or day
-- by status, and the pruner finds settled ones past their retention: both
-- read this index instead of the whole ledger.
CREATE INDEX reservations_status_updated_idx ON reservations (status, updated_at);
