-- Named queries for the gateway schema (loaded by spooled_gateway.db).
-- Tenant queries run inside db.tenant_tx and still filter by organization_id:
-- row-level security is the second line, not the only one.

-- ---------------------------------------------------------------- api keys

-- name: key_by_hash
-- The authentication lookup: O(1) on the unique lookup_hash index. Runs with
-- app.maintenance on, since the organization is what we are finding out.
SELECT k.id, k.organization_id, k.queues, k.rate_limit, k.is_active, k.expires_at,
       k.last_used, o.plan_tier, o.custom_limits
FROM gateway.api_keys k
JOIN gateway.organizations o ON o.id = k.organization_id
WHERE k.lookup_hash = $1;

-- name: session_key
-- The JWT path: re-read the key behind a token (it may have been revoked,
-- re-scoped or expired since login) and whether the token or its session was
-- revoked, in one round trip. $1 key id, $2 org id, $3 [jti, sid].
SELECT k.id, k.organization_id, k.queues, k.rate_limit, k.is_active, k.expires_at,
       k.last_used, o.plan_tier, o.custom_limits,
       EXISTS (SELECT 1 FROM gateway.revoked_tokens r
               WHERE r.token_id = ANY($3::text[]) AND r.expires_at > now()) AS revoked
FROM gateway.api_keys k
JOIN gateway.organizations o ON o.id = k.organization_id
WHERE k.id = $1 AND k.organization_id = $2;

-- name: touch_key
-- Coalesced across replicas too: a second writer inside the window is a no-op.
UPDATE gateway.api_keys SET last_used = now()
WHERE id = $1 AND (last_used IS NULL OR last_used < now() - interval '5 minutes');

-- name: insert_key
INSERT INTO gateway.api_keys (id, organization_id, name, lookup_hash, key_prefix, queues,
                              rate_limit, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, name, created_at, expires_at;

-- name: list_keys
SELECT id, name, key_prefix, queues, rate_limit, is_active, created_at, last_used, expires_at
FROM gateway.api_keys
WHERE organization_id = $1
ORDER BY created_at DESC, id
LIMIT 100;

-- name: get_key
SELECT id, name, key_prefix, queues, rate_limit, is_active, created_at, last_used, expires_at
FROM gateway.api_keys
WHERE organization_id = $1 AND id = $2;

-- name: update_key
-- $3..$6 NULL = leave unchanged.
UPDATE gateway.api_keys SET
    name = COALESCE($3, name),
    queues = COALESCE($4, queues),
    rate_limit = COALESCE($5, rate_limit),
    is_active = COALESCE($6, is_active),
    updated_at = now()
WHERE organization_id = $1 AND id = $2
RETURNING id, name, key_prefix, queues, rate_limit, is_active, created_at, last_used,
          expires_at, lookup_hash;

-- name: revoke_key
UPDATE gateway.api_keys SET is_active = false, updated_at = now()
WHERE organization_id = $1 AND id = $2
RETURNING lookup_hash;

-- name: lock_org_resource
-- Serializes cap checks per org and resource, so two concurrent creates
-- cannot both pass "current + 1 <= limit".
SELECT pg_advisory_xact_lock(hashtext('res_limit:' || $1 || ':' || $2));

-- name: count_active_keys
SELECT count(*) FROM gateway.api_keys
WHERE organization_id = $1 AND is_active AND (expires_at IS NULL OR expires_at > now());

-- name: count_keys
SELECT count(*) FROM gateway.api_keys WHERE organization_id = $1;

-- ----------------------------------------------------------- organizations

-- name: insert_org
INSERT INTO gateway.organizations (id, name, slug, plan_tier, billing_email, settings,
                                   custom_limits)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: get_org
SELECT * FROM gateway.organizations WHERE id = $1;

-- name: slug_taken
SELECT EXISTS (SELECT 1 FROM gateway.organizations WHERE slug = $1);

-- name: update_org
-- $2..$4 NULL = leave unchanged. The webhook token and the incoming-webhook
-- signing secrets survive a settings replacement: callers cannot drop or
-- forge them through PUT (they have endpoints of their own).
UPDATE gateway.organizations SET
    name = COALESCE($2, name),
    billing_email = COALESCE($3, billing_email),
    settings = CASE WHEN $4::jsonb IS NULL THEN settings
                    ELSE ($4::jsonb - 'webhook_token' - 'github_webhook_secret'
                                    - 'stripe_webhook_secret')
                         || jsonb_strip_nulls(jsonb_build_object(
                                'webhook_token', settings -> 'webhook_token',
                                'github_webhook_secret', settings -> 'github_webhook_secret',
                                'stripe_webhook_secret', settings -> 'stripe_webhook_secret'))
               END,
    updated_at = now()
WHERE id = $1
RETURNING *;

-- name: admin_update_org
-- $6 true = replace custom_limits with $5 (which may be NULL to clear).
UPDATE gateway.organizations SET
    name = COALESCE($2, name),
    plan_tier = COALESCE($3, plan_tier),
    billing_email = COALESCE($4, billing_email),
    custom_limits = CASE WHEN $6 THEN $5::jsonb ELSE custom_limits END,
    settings = CASE WHEN $7::jsonb IS NULL THEN settings
                    ELSE ($7::jsonb - 'webhook_token' - 'github_webhook_secret'
                                    - 'stripe_webhook_secret')
                         || jsonb_strip_nulls(jsonb_build_object(
                                'webhook_token', settings -> 'webhook_token',
                                'github_webhook_secret', settings -> 'github_webhook_secret',
                                'stripe_webhook_secret', settings -> 'stripe_webhook_secret'))
               END,
    updated_at = now()
WHERE id = $1
RETURNING *;

-- name: set_webhook_token
UPDATE gateway.organizations
SET settings = settings || jsonb_build_object('webhook_token', $2::text), updated_at = now()
WHERE id = $1
RETURNING settings ->> 'webhook_token' AS webhook_token;

-- name: set_webhook_secret
-- An incoming-webhook signing secret ($2: github_webhook_secret or
-- stripe_webhook_secret); $3 NULL removes it.
UPDATE gateway.organizations
SET settings = CASE WHEN $3::text IS NULL THEN settings - $2::text
                    ELSE settings || jsonb_build_object($2::text, $3::text) END,
    updated_at = now()
WHERE id = $1
RETURNING id;

-- name: delete_org
DELETE FROM gateway.organizations WHERE id = $1
RETURNING id;

-- name: soft_delete_org
UPDATE gateway.organizations SET plan_tier = 'deleted', updated_at = now()
WHERE id = $1
RETURNING id;

-- name: reset_org_usage
UPDATE gateway.organizations SET usage_reset_at = now(), updated_at = now() WHERE id = $1
RETURNING id;

-- name: list_active_key_members
SELECT id, name, queues, created_at FROM gateway.api_keys
WHERE organization_id = $1 AND is_active
ORDER BY created_at, id
LIMIT 100;

-- name: org_ids_live
SELECT id FROM gateway.organizations WHERE plan_tier <> 'deleted';

-- name: org_stats
SELECT count(*) FILTER (WHERE plan_tier <> 'deleted') AS total,
       count(*) FILTER (WHERE plan_tier <> 'deleted'
                        AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC')
                                          AT TIME ZONE 'UTC') AS created_today,
       count(*) FILTER (WHERE plan_tier <> 'deleted'
                        AND created_at >= now() - interval '7 days') AS created_this_week
FROM gateway.organizations;

-- name: org_counts_by_plan
SELECT plan_tier AS plan, count(*) AS count FROM gateway.organizations
WHERE plan_tier <> 'deleted'
GROUP BY plan_tier ORDER BY plan_tier;

-- name: active_key_counts
-- Active keys per org for a page of the admin listing.
SELECT organization_id, count(*) AS n FROM gateway.api_keys
WHERE organization_id = ANY($1::text[]) AND is_active
  AND (expires_at IS NULL OR expires_at > now())
GROUP BY organization_id;

-- -------------------------------------------------------------- JWT revocation

-- name: revoke_token
INSERT INTO gateway.revoked_tokens (token_id, kind, organization_id, expires_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (token_id) DO UPDATE SET expires_at = GREATEST(revoked_tokens.expires_at,
                                                           EXCLUDED.expires_at);

-- name: token_revoked
SELECT EXISTS (SELECT 1 FROM gateway.revoked_tokens
               WHERE token_id = ANY($1::text[]) AND expires_at > now());

-- name: sweep_revoked_tokens
DELETE FROM gateway.revoked_tokens WHERE expires_at < now();

-- ------------------------------------------------------------ rate counters

-- name: counter_peek
-- Hits in the live window for a bucket; $2 = window seconds.
SELECT hits, window_start + make_interval(secs => $2) AS resets_at
FROM gateway.rate_counters
WHERE bucket = $1 AND window_start > now() - make_interval(secs => $2);

-- name: counter_hit
-- Count one hit in a fixed window that starts at the first hit after the
-- previous window ended; $2 = window seconds.
INSERT INTO gateway.rate_counters AS c (bucket, window_start, hits)
VALUES ($1, now(), 1)
ON CONFLICT (bucket) DO UPDATE SET
    hits = CASE WHEN c.window_start <= now() - make_interval(secs => $2) THEN 1
                ELSE c.hits + 1 END,
    window_start = CASE WHEN c.window_start <= now() - make_interval(secs => $2) THEN now()
                        ELSE c.window_start END
RETURNING hits, window_start + make_interval(secs => $2) AS resets_at;

-- name: sweep_counters
DELETE FROM gateway.rate_counters WHERE window_start < now() - interval '1 hour';

-- ------------------------------------------------------------------- admin

-- name: admin_list_orgs
-- {order} is filled from a fixed whitelist (routes/admin.py), never from input.
-- $2 is an ILIKE pattern with %, _ and \ already escaped.
SELECT * FROM gateway.organizations
WHERE ($1::text IS NULL OR plan_tier = $1)
  AND ($2::text IS NULL OR name ILIKE $2 OR slug ILIKE $2)
ORDER BY {order}
LIMIT $3 OFFSET $4;

-- name: admin_count_orgs
SELECT count(*) FROM gateway.organizations
WHERE ($1::text IS NULL OR plan_tier = $1)
  AND ($2::text IS NULL OR name ILIKE $2 OR slug ILIKE $2);
