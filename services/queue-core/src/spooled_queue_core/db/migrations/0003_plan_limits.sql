-- 0003_plan_limits: what the plan-limit checks of quota/ read inside the insert
-- transaction, kept cheap however many finished jobs an organization has.
SET LOCAL lock_timeout = '5s';

-- Active jobs (pending + scheduled + processing) of one organization: the
-- active-jobs cap counts them, up to the limit, on every admission. A plain
-- (organization_id) partial index stays small: finished jobs are not in it.
-- (Plain CREATE INDEX: this runs inside the migration's transaction, before
-- the table is large; on a large existing table build it CONCURRENTLY by hand
-- first and this statement becomes a no-op.)
CREATE INDEX IF NOT EXISTS jobs_active_org_idx
    ON core.jobs (organization_id)
    WHERE status IN ('pending', 'scheduled', 'processing');
