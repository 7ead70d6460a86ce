-- Identity: organizations, API keys, revoked JWT sessions, Postgres-backed
-- rate counters. Owned by the gateway; no other service reads these tables.
--
-- Row-level security is forced on the two tenant tables (so it applies even
-- when the service role owns them). Two paths are cross-tenant by nature and
-- run in a transaction with app.maintenance = 'on': looking an API key up by
-- its hash (the org is not known yet) and the /admin routes.

CREATE TABLE gateway.organizations (
    id                          TEXT PRIMARY KEY DEFAULT gen_random_uuid()::TEXT,
    name                        TEXT NOT NULL,
    slug                        TEXT NOT NULL,
    -- free | starter | pro | enterprise | deleted (soft-deleted by an admin)
    plan_tier                   TEXT NOT NULL DEFAULT 'free',
    billing_email               TEXT,
    -- Holds webhook_token (whk_...) for incoming custom webhooks.
    settings                    JSONB NOT NULL DEFAULT '{}',
    -- Per-org overrides of the plan table (orgs/plans.py); NULL = none.
    custom_limits               JSONB,
    stripe_customer_id          TEXT,
    stripe_subscription_id      TEXT,
    stripe_subscription_status  TEXT,
    stripe_current_period_end   TIMESTAMPTZ,
    stripe_cancel_at_period_end BOOLEAN NOT NULL DEFAULT false,
    -- Set by POST /admin/organizations/{id}/reset-usage; the owner of the
    -- daily job counter reads it (the counter itself lives outside this schema).
    usage_reset_at              TIMESTAMPTZ,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT organizations_slug_key UNIQUE (slug),
    CONSTRAINT organizations_plan_tier_known
        CHECK (plan_tier IN ('free', 'starter', 'pro', 'enterprise', 'deleted')),
    CONSTRAINT organizations_settings_object CHECK (jsonb_typeof(settings) = 'object')
);

-- One organization per billing address (upstream returns 409 on a duplicate).
CREATE UNIQUE INDEX organizations_billing_email_key
    ON gateway.organizations (lower(billing_email)) WHERE billing_email IS NOT NULL;
CREATE INDEX organizations_created_at_idx ON gateway.organizations (created_at DESC);
CREATE INDEX organizations_stripe_customer_idx
    ON gateway.organizations (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;

CREATE TABLE gateway.api_keys (
    id              TEXT PRIMARY KEY DEFAULT gen_random_uuid()::TEXT,
    organization_id TEXT NOT NULL REFERENCES gateway.organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    -- sha256 hex of the raw key. The raw key is never stored. A fast hash is
    -- enough because keys carry 256 random bits: there is nothing to brute
    -- force, unlike a password, so bcrypt would only cost CPU on every request.
    lookup_hash     TEXT NOT NULL,
    -- First 12 characters of the raw key, for display only (never for lookup).
    key_prefix      TEXT NOT NULL,
    -- Queue scope; empty or containing '*' = every queue.
    queues          TEXT[] NOT NULL DEFAULT '{}',
    -- Requests per minute for this key; NULL = only the plan limit applies.
    rate_limit      INT,
    is_active       BOOLEAN NOT NULL DEFAULT true,
    expires_at      TIMESTAMPTZ,
    -- Coarse: written at most once per key per 5 minutes, off the request path.
    last_used       TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_lookup_hash_key UNIQUE (lookup_hash),
    CONSTRAINT api_keys_rate_limit_range CHECK (rate_limit IS NULL OR rate_limit BETWEEN 1 AND 10000)
);

CREATE INDEX api_keys_org_created_idx ON gateway.api_keys (organization_id, created_at DESC);
CREATE INDEX api_keys_org_active_idx ON gateway.api_keys (organization_id) WHERE is_active;

-- JWT revocation: a row per revoked token id (jti) or session id (sid), kept
-- until the longest-lived token it covers has expired anyway.
CREATE TABLE gateway.revoked_tokens (
    token_id        TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT revoked_tokens_kind_known CHECK (kind IN ('jti', 'sid'))
);

CREATE INDEX revoked_tokens_expires_idx ON gateway.revoked_tokens (expires_at);

-- Fixed-window counters for the unauthenticated paths (login attempts,
-- slug checks), so the limits hold across replicas without Redis.
CREATE TABLE gateway.rate_counters (
    bucket       TEXT PRIMARY KEY,
    window_start TIMESTAMPTZ NOT NULL,
    hits         INT NOT NULL
);

CREATE INDEX rate_counters_window_idx ON gateway.rate_counters (window_start);

ALTER TABLE gateway.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway.organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY organizations_tenant ON gateway.organizations
    USING (id = current_setting('app.current_org_id', true)
           OR current_setting('app.maintenance', true) = 'on')
    WITH CHECK (id = current_setting('app.current_org_id', true)
                OR current_setting('app.maintenance', true) = 'on');

ALTER TABLE gateway.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway.api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_tenant ON gateway.api_keys
    USING (organization_id = current_setting('app.current_org_id', true)
           OR current_setting('app.maintenance', true) = 'on')
    WITH CHECK (organization_id = current_setting('app.current_org_id', true)
                OR current_setting('app.maintenance', true) = 'on');
