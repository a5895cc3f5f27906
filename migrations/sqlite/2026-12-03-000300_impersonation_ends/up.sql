-- The end of every impersonation is on the audit trail, exactly once (issue 13, point 5): the
-- request or background sweep that records it sets `impersonation_ended_at` with a conditional
-- UPDATE (`... WHERE impersonation_ended_at IS NULL`) in the transaction that writes the
-- IMPERSONATION_STOPPED event, so two writers racing (two instances' sweeps, a sweep and a
-- discard, fifty stops) write one event. NULL on sessions that are not impersonations.
ALTER TABLE sessions ADD COLUMN impersonation_ended_at TIMESTAMP;
-- Impersonations that ended before this migration are not recorded after the fact: their cause
-- is not known (only a stop or a sign-out wrote an event then).
UPDATE sessions SET impersonation_ended_at = COALESCE(revoked_at, expires_at)
    WHERE impersonator_id IS NOT NULL
      AND (revoked_at IS NOT NULL OR expires_at <= strftime('%Y-%m-%d %H:%M:%f', 'now'));
-- What the sweep reads: the impersonations whose end is not recorded yet.
CREATE INDEX sessions_open_impersonations_idx ON sessions (id)
    WHERE impersonator_id IS NOT NULL AND impersonation_ended_at IS NULL;
