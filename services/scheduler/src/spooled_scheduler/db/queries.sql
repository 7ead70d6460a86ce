-- Named queries of the scheduler (schema "scheduler"). Timestamps that drive
-- scheduling come from the injected clock as parameters, never from now().

-- ---------------------------------------------------------------------------
-- schedules (tenant_tx)
-- ---------------------------------------------------------------------------

-- name: lock_org_schedules
-- Serializes plan-cap checks of one org (count, then insert) across replicas.
SELECT pg_advisory_xact_lock(hashtext('res_limit:' || $1::text || ':schedules'));

-- name: count_active_schedules
SELECT count(*) FROM scheduler.schedules WHERE organization_id = $1 AND is_active;

-- name: insert_schedule
INSERT INTO scheduler.schedules (
    id, organization_id, name, description, cron_expression, timezone, queue_name,
    payload_template, priority, max_retries, timeout_seconds, is_active, next_run_at,
    tags, metadata, missed_run_policy, catch_up_limit, overlap_policy, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, TRUE, $12, $13, $14, $15, $16, $17, $18, $18)
RETURNING *;

-- name: get_schedule
-- $3: the caller's queue scope (NULL = every queue); out-of-scope rows are invisible.
SELECT * FROM scheduler.schedules
WHERE id = $1 AND organization_id = $2
  AND ($3::text[] IS NULL OR queue_name = ANY ($3::text[]));

-- name: get_schedule_for_update
SELECT * FROM scheduler.schedules
WHERE id = $1 AND organization_id = $2
  AND ($3::text[] IS NULL OR queue_name = ANY ($3::text[]))
FOR UPDATE;

-- name: list_schedules
SELECT * FROM scheduler.schedules
WHERE organization_id = $1
  AND ($2::text[] IS NULL OR queue_name = ANY ($2::text[]))
  AND ($3::text IS NULL OR queue_name = $3)
  AND ($4::boolean IS NULL OR is_active = $4)
ORDER BY created_at DESC, id
LIMIT $5 OFFSET $6;

-- name: update_schedule
-- The service merges the change onto the locked row and writes every field.
UPDATE scheduler.schedules SET
    name = $3, description = $4, cron_expression = $5, timezone = $6,
    payload_template = $7, priority = $8, max_retries = $9, timeout_seconds = $10,
    tags = $11, metadata = $12, is_active = $13, next_run_at = $14,
    missed_run_policy = $15, catch_up_limit = $16, overlap_policy = $17, updated_at = $18
WHERE id = $1 AND organization_id = $2
RETURNING *;

-- name: delete_schedule
DELETE FROM scheduler.schedules
WHERE id = $1 AND organization_id = $2
  AND ($3::text[] IS NULL OR queue_name = ANY ($3::text[]))
RETURNING id;

-- name: record_manual_run
UPDATE scheduler.schedules SET last_run_at = $3, run_count = run_count + 1
WHERE id = $1 AND organization_id = $2
RETURNING *;

-- ---------------------------------------------------------------------------
-- schedule_runs
-- ---------------------------------------------------------------------------

-- name: insert_run
-- A cron tick already recorded (another replica, a retried pass) inserts
-- nothing and returns no row: the caller then does not count it again.
INSERT INTO scheduler.schedule_runs (
    id, organization_id, schedule_id, job_id, status, error_message, kind,
    scheduled_for, started_at, completed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (schedule_id, scheduled_for) WHERE kind = 'cron' DO NOTHING
RETURNING id;

-- name: list_runs
SELECT * FROM scheduler.schedule_runs
WHERE schedule_id = $1 AND organization_id = $2
ORDER BY started_at DESC, scheduled_for DESC NULLS LAST, id
LIMIT $3;

-- name: last_run_job
-- The job of the most recent run that created one (overlap_policy = skip).
SELECT job_id FROM scheduler.schedule_runs
WHERE schedule_id = $1 AND organization_id = $2 AND job_id IS NOT NULL
ORDER BY started_at DESC, scheduled_for DESC NULLS LAST
LIMIT 1;

-- ---------------------------------------------------------------------------
-- firing loop (maintenance_tx)
-- ---------------------------------------------------------------------------

-- name: due_schedules
SELECT id, organization_id FROM scheduler.schedules
WHERE is_active AND next_run_at <= $1
ORDER BY next_run_at
LIMIT $2;

-- name: earliest_due
SELECT min(next_run_at) FROM scheduler.schedules WHERE is_active;

-- name: lock_due_schedule
-- SKIP LOCKED: a schedule another transaction is firing (or editing) is left
-- alone; the WHERE is re-checked on the newest row version, so a tick fired
-- and committed meanwhile is no longer due here.
SELECT * FROM scheduler.schedules
WHERE id = $1 AND is_active AND next_run_at <= $2
FOR UPDATE SKIP LOCKED;

-- name: advance_schedule
UPDATE scheduler.schedules SET
    next_run_at = $3,
    last_run_at = COALESCE($4, last_run_at),
    run_count = run_count + $5
WHERE id = $1 AND organization_id = $2;

-- ---------------------------------------------------------------------------
-- leader lease (maintenance_tx)
-- ---------------------------------------------------------------------------

-- name: claim_leadership
-- Take the lease if it is free or expired, or extend it if we hold it; a row
-- comes back only when we are the leader until $4.
INSERT INTO scheduler.leader AS l (name, holder, elected_at, expires_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (name) DO UPDATE SET
    holder = EXCLUDED.holder,
    elected_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.elected_at
                      ELSE EXCLUDED.elected_at END,
    expires_at = EXCLUDED.expires_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at <= $3
RETURNING holder, elected_at, expires_at;

-- name: hold_leadership
-- The fence of every firing transaction: still the unexpired holder? FOR SHARE
-- keeps a successor from taking the lease until this transaction ends, so two
-- leaders never fire at the same time.
SELECT 1 FROM scheduler.leader
WHERE name = $1 AND holder = $2 AND expires_at > $3
FOR SHARE;

-- name: resign_leadership
DELETE FROM scheduler.leader WHERE name = $1 AND holder = $2;

-- name: current_leader
SELECT holder, elected_at, expires_at FROM scheduler.leader WHERE name = $1;
