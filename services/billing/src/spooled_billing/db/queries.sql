-- Named queries of the billing schema (loaded by spooled_billing.db).
-- Per-org queries run inside tenant_tx and still filter by organization_id.

-- ------------------------------------------------------------------ plans

-- name: get_org_plan
SELECT organization_id, plan_tier, custom_limits::text AS custom_limits, stripe_customer_id,
       stripe_subscription_id, stripe_subscription_status, stripe_current_period_end,
       stripe_cancel_at_period_end, stripe_last_event_at, updated_at
FROM billing.org_plans
WHERE organization_id = $1;

-- name: set_org_plan
-- $2 tier (NULL = unchanged); $3 true = replace custom_limits with $4 (NULL clears).
INSERT INTO billing.org_plans AS p (organization_id, plan_tier, custom_limits)
VALUES ($1, COALESCE($2, 'free'), CASE WHEN $3 THEN $4::jsonb END)
ON CONFLICT (organization_id) DO UPDATE SET
    plan_tier = COALESCE($2, p.plan_tier),
    custom_limits = CASE WHEN $3 THEN $4::jsonb ELSE p.custom_limits END,
    updated_at = now()
RETURNING organization_id, plan_tier, custom_limits::text AS custom_limits, stripe_customer_id,
          stripe_subscription_id, stripe_subscription_status, stripe_current_period_end,
          stripe_cancel_at_period_end, stripe_last_event_at, updated_at;

-- name: org_by_stripe_customer
-- Stripe processing (maintenance_tx): whose customer is this?
SELECT organization_id FROM billing.org_plans WHERE stripe_customer_id = $1;

-- name: apply_subscription
-- One Stripe subscription state for one org. $2 tier (NULL = unchanged),
-- $3 customer, $4 subscription id, $5 status, $6 period end, $7 cancel at end,
-- $8 the event's `created`. An event older than the last applied one is
-- skipped by the WHERE (RETURNING nothing: the caller records it as stale).
INSERT INTO billing.org_plans AS p
    (organization_id, plan_tier, stripe_customer_id, stripe_subscription_id,
     stripe_subscription_status, stripe_current_period_end, stripe_cancel_at_period_end,
     stripe_last_event_at)
VALUES ($1, COALESCE($2, 'free'), $3, $4, $5, $6, COALESCE($7, false), $8)
ON CONFLICT (organization_id) DO UPDATE SET
    plan_tier = COALESCE($2, p.plan_tier),
    stripe_customer_id = COALESCE($3, p.stripe_customer_id),
    stripe_subscription_id = COALESCE($4, p.stripe_subscription_id),
    stripe_subscription_status = COALESCE($5, p.stripe_subscription_status),
    stripe_current_period_end = COALESCE($6, p.stripe_current_period_end),
    stripe_cancel_at_period_end = COALESCE($7, p.stripe_cancel_at_period_end),
    stripe_last_event_at = GREATEST($8, p.stripe_last_event_at),
    updated_at = now()
WHERE p.stripe_last_event_at IS NULL OR $8 IS NULL OR $8 >= p.stripe_last_event_at
RETURNING organization_id;

-- ------------------------------------------------------------------ daily counter

-- name: reserve_jobs
-- Atomically add $2 jobs to today's (UTC) counter unless that passes $3
-- (NULL = unlimited). Concurrent reservations of one org serialize on the
-- row, and each sees the others' committed increments: the counter never
-- passes the limit. No row back = refused.
INSERT INTO billing.daily_usage AS u (organization_id, day, jobs_created)
SELECT $1, (now() AT TIME ZONE 'UTC')::date, $2
WHERE $3::bigint IS NULL OR $2 <= $3::bigint
ON CONFLICT (organization_id, day) DO UPDATE SET
    jobs_created = u.jobs_created + EXCLUDED.jobs_created,
    updated_at = now()
WHERE $3::bigint IS NULL OR u.jobs_created + EXCLUDED.jobs_created <= $3::bigint
RETURNING day::text AS day, jobs_created;

-- name: refund_jobs
-- Give back $2 jobs on the day they were reserved ($3), never below zero.
UPDATE billing.daily_usage
SET jobs_created = GREATEST(jobs_created - $2, 0), updated_at = now()
WHERE organization_id = $1 AND day = $3::text::date
RETURNING day::text AS day, jobs_created;

-- name: jobs_today
SELECT (now() AT TIME ZONE 'UTC')::date::text AS day,
       COALESCE((SELECT jobs_created FROM billing.daily_usage
                 WHERE organization_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date), 0)
           AS jobs_created;

-- name: reset_today
UPDATE billing.daily_usage SET jobs_created = 0, updated_at = now()
WHERE organization_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date;

-- name: sweep_daily_usage
-- Retention (maintenance_tx): counters older than $1 days.
DELETE FROM billing.daily_usage
WHERE day < (now() AT TIME ZONE 'UTC')::date - $1::int;

-- ------------------------------------------------------------------ stripe events

-- name: claim_stripe_event
-- Dedup: the first delivery inserts; a replay (or a concurrent redelivery,
-- which waits for the first transaction) gets nothing back.
INSERT INTO billing.stripe_events (event_id, event_type, event_created)
VALUES ($1, $2, $3)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id;

-- name: finish_stripe_event
UPDATE billing.stripe_events SET organization_id = $2, outcome = $3 WHERE event_id = $1;

-- name: stripe_event
SELECT event_id, event_type, organization_id, outcome FROM billing.stripe_events
WHERE event_id = $1;

-- name: sweep_stripe_events
-- Stripe retries for three days; ids older than $1 days cannot come back.
DELETE FROM billing.stripe_events WHERE processed_at < now() - make_interval(days => $1::int);
