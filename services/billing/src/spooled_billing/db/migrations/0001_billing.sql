-- 0001_billing: plan assignments, the daily job counter and Stripe events (schema "billing").
--
-- Idempotent statements (IF NOT EXISTS / DROP ... IF EXISTS) so a half-applied
-- migration can be re-run by hand; the runner never applies one twice anyway.
SET LOCAL lock_timeout = '5s';

CREATE SCHEMA IF NOT EXISTS billing;

-- ---------------------------------------------------------------------------
-- org_plans: the source of truth for an organization's tier, its per-org
-- custom_limits and its Stripe subscription. No row = free, no overrides.
-- The gateway keeps a read copy of tier/custom_limits/stripe_* on its
-- organizations row, written from our replies (API.md §11.1 renders it).
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS billing.org_plans (
    organization_id             TEXT PRIMARY KEY,
    plan_tier                   TEXT        NOT NULL DEFAULT 'free',
    custom_limits               JSONB,
    stripe_customer_id          TEXT,
    stripe_subscription_id      TEXT,
    stripe_subscription_status  TEXT,
    stripe_current_period_end   TIMESTAMPTZ,
    stripe_cancel_at_period_end BOOLEAN     NOT NULL DEFAULT false,
    -- `created` of the newest Stripe event applied: older ones arriving late
    -- (Stripe does not order deliveries) change nothing.
    stripe_last_event_at        TIMESTAMPTZ,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT org_plans_tier_known
        CHECK (plan_tier IN ('free', 'starter', 'pro', 'enterprise')),
    CONSTRAINT org_plans_custom_limits_object
        CHECK (custom_limits IS NULL OR jsonb_typeof(custom_limits) = 'object')
);

-- Subscription events name the customer, not the organization.
CREATE UNIQUE INDEX IF NOT EXISTS org_plans_stripe_customer_uq
    ON billing.org_plans (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- daily_usage: jobs admitted per organization per UTC day. A new day is a new
-- row, so the counter "resets" at UTC midnight without a job that resets it.
-- Reservations are one conditional upsert (reserve_jobs): no overshoot.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS billing.daily_usage (
    organization_id TEXT        NOT NULL,
    day             DATE        NOT NULL,
    jobs_created    BIGINT      NOT NULL DEFAULT 0,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, day),
    CONSTRAINT daily_usage_jobs_non_negative CHECK (jobs_created >= 0)
);

CREATE INDEX IF NOT EXISTS daily_usage_day_idx ON billing.daily_usage (day);

-- ---------------------------------------------------------------------------
-- stripe_events: every Stripe event id we processed, inserted in the same
-- transaction as its effect, so a replay (or a concurrent redelivery) is a
-- no-op and a failed processing leaves no trace (Stripe retries it).
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS billing.stripe_events (
    event_id        TEXT PRIMARY KEY,
    event_type      TEXT        NOT NULL,
    organization_id TEXT,
    event_created   TIMESTAMPTZ,
    -- applied | ignored | stale | unknown_org
    outcome         TEXT        NOT NULL DEFAULT 'applied',
    processed_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT stripe_events_outcome_valid
        CHECK (outcome IN ('applied', 'ignored', 'stale', 'unknown_org'))
);

CREATE INDEX IF NOT EXISTS stripe_events_processed_idx ON billing.stripe_events (processed_at);

-- ---------------------------------------------------------------------------
-- Row-level security, really active (FORCE: our role owns the tables). A
-- transaction sees one organization's rows after tenant_tx() set
-- app.current_org_id; Stripe processing and sweeps set app.maintenance.
-- Guarded by tests/integration/test_schema.py.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['org_plans', 'daily_usage', 'stripe_events']
    LOOP
        EXECUTE format('ALTER TABLE billing.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE billing.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON billing.%I', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON billing.%I '
            'USING (organization_id = current_setting(''app.current_org_id'', true) '
            '       OR current_setting(''app.maintenance'', true) = ''on'') '
            'WITH CHECK (organization_id = current_setting(''app.current_org_id'', true) '
            '       OR current_setting(''app.maintenance'', true) = ''on'')', t);
    END LOOP;
END
$$;
