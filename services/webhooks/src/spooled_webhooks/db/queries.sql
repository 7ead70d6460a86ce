-- Named queries of the webhooks service (schema "webhooks"). Conventions:
--   * tenant queries take the organization as a parameter, filter by it, and
--     run inside tenant_tx (row-level security);
--   * the event consumer, the dispatcher and the cleanup run across tenants in
--     maintenance_tx and still name the organization in every row they write.

-- ===========================================================================
-- Endpoints (tenant_tx)
-- ===========================================================================

-- name: lock_org_endpoints
-- Serializes plan-cap checks of one org (count, then insert or enable) across replicas.
SELECT pg_advisory_xact_lock(hashtext('res_limit:' || $1::text || ':webhooks'));

-- name: count_enabled_endpoints
SELECT count(*) FROM webhooks.endpoints WHERE organization_id = $1 AND enabled;

-- name: insert_endpoint
INSERT INTO webhooks.endpoints (organization_id, name, url, secret, events, format, enabled)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: list_endpoints
SELECT * FROM webhooks.endpoints
WHERE organization_id = $1
ORDER BY created_at DESC, id;

-- name: get_endpoint
SELECT * FROM webhooks.endpoints WHERE id = $1 AND organization_id = $2;

-- name: get_endpoint_for_update
SELECT * FROM webhooks.endpoints WHERE id = $1 AND organization_id = $2 FOR UPDATE;

-- name: update_endpoint
-- The service merges the change onto the locked row and writes every field.
-- Enabling again starts a clean slate: no failures, no disable reason.
UPDATE webhooks.endpoints SET
    name = $3, url = $4, secret = $5, events = $6, format = $7, enabled = $8,
    failure_count = CASE WHEN $8 AND NOT enabled THEN 0 ELSE failure_count END,
    disabled_reason = CASE WHEN $8 THEN NULL ELSE disabled_reason END,
    updated_at = now()
WHERE id = $1 AND organization_id = $2
RETURNING *;

-- name: delete_endpoint
-- Its deliveries and their attempts go with it (ON DELETE CASCADE).
DELETE FROM webhooks.endpoints WHERE id = $1 AND organization_id = $2 RETURNING id;

-- ===========================================================================
-- Deliveries seen through the API (tenant_tx)
-- ===========================================================================

-- name: list_deliveries
-- Newest first; $3 status filter (NULL = any).
SELECT id, webhook_id, event, payload::text AS payload, status, status_code, response_body,
       error, attempts, created_at, delivered_at, next_attempt_at
FROM webhooks.deliveries
WHERE webhook_id = $1 AND organization_id = $2 AND ($3::text IS NULL OR status = $3)
ORDER BY created_at DESC, id
LIMIT $4 OFFSET $5;

-- name: claim_delivery_manual
-- A manual retry takes the row like the dispatcher does (one more attempt,
-- due again only after the lease), so the two never send it at once.
-- A row the dispatcher holds right now is skipped (no row: 409).
WITH pick AS (
    SELECT id FROM webhooks.deliveries
    WHERE id = $1 AND webhook_id = $2 AND organization_id = $3
    FOR UPDATE SKIP LOCKED
)
UPDATE webhooks.deliveries d
SET attempts = d.attempts + 1,
    next_attempt_at = now() + make_interval(secs => $4),
    updated_at = now()
FROM pick
WHERE d.id = pick.id
RETURNING d.id, d.organization_id, d.webhook_id, d.event, d.payload::text AS payload,
          d.status, d.attempts, d.job_id, d.traceparent;

-- name: delivery_exists
SELECT status FROM webhooks.deliveries WHERE id = $1 AND webhook_id = $2 AND organization_id = $3;

-- ===========================================================================
-- Event fan-out (maintenance_tx)
-- ===========================================================================

-- name: enabled_endpoints_for_orgs
SELECT id, organization_id, events, format, created_at
FROM webhooks.endpoints
WHERE organization_id = ANY ($1::text[]) AND enabled;

-- name: insert_deliveries
-- One row per (target, event); a redelivered stream message derives the same
-- ids and inserts nothing. Returns the ids actually inserted. $10: the trace
-- context of each row's event (NULLs while tracing is off).
INSERT INTO webhooks.deliveries
    (id, organization_id, webhook_id, event, event_key, job_id, url, secret, payload,
     traceparent)
SELECT *
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::json[], $10::text[])
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- ===========================================================================
-- Dispatcher (maintenance_tx)
-- ===========================================================================

-- name: claim_due_deliveries
-- $1 batch size, $2 lease seconds. Rows another replica holds are skipped;
-- a claimed row counts one more attempt and is due again after the lease, so
-- a sender that dies mid-request is retried by whoever scans next. Deliveries
-- of a disabled endpoint wait (they resume if it is enabled again).
WITH due AS (
    SELECT d.id, e.url AS endpoint_url, e.secret AS endpoint_secret, e.format
    FROM webhooks.deliveries d
    LEFT JOIN webhooks.endpoints e ON e.id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
      AND (d.webhook_id IS NULL OR e.enabled)
    ORDER BY d.next_attempt_at
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhooks.deliveries d
SET attempts = d.attempts + 1,
    next_attempt_at = now() + make_interval(secs => $2),
    updated_at = now()
FROM due
WHERE d.id = due.id
RETURNING d.id, d.organization_id, d.webhook_id, d.event, d.payload::text AS payload,
          d.attempts, COALESCE(due.endpoint_url, d.url) AS url,
          CASE WHEN d.webhook_id IS NULL THEN d.secret ELSE due.endpoint_secret END AS secret,
          COALESCE(due.format, 'json') AS format, d.job_id, d.traceparent;

-- name: next_due_in
-- Seconds until the earliest claimable delivery (NULL: none pending).
SELECT GREATEST(extract(epoch FROM min(d.next_attempt_at) - now()), 0)::float8
FROM webhooks.deliveries d
LEFT JOIN webhooks.endpoints e ON e.id = d.webhook_id
WHERE d.status = 'pending' AND (d.webhook_id IS NULL OR e.enabled);

-- name: endpoint_for_delivery
-- The target of a manual retry (the endpoint may have changed since the claim).
SELECT url, secret, format, enabled FROM webhooks.endpoints WHERE id = $1 AND organization_id = $2;

-- name: lock_endpoint_for_outcome
-- Taken first when an attempt's outcome is recorded: endpoint, then delivery,
-- the order DELETE of an endpoint takes them (it cascades to its deliveries).
-- The other order deadlocks with a concurrent delete. No row: it was deleted.
SELECT id FROM webhooks.endpoints WHERE id = $1 AND organization_id = $2 FOR NO KEY UPDATE;

-- name: insert_attempt
INSERT INTO webhooks.delivery_attempts
    (organization_id, delivery_id, attempt, status_code, error, response_body, duration_ms, manual)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: delivery_succeeded
UPDATE webhooks.deliveries
SET status = 'success', status_code = $3, response_body = $4, error = NULL,
    delivered_at = now(), updated_at = now()
WHERE id = $1 AND organization_id = $2;

-- name: delivery_retry
-- Still pending, due again after $6 seconds.
UPDATE webhooks.deliveries
SET status = 'pending', status_code = $3, response_body = $4, error = $5,
    next_attempt_at = now() + make_interval(secs => $6), updated_at = now()
WHERE id = $1 AND organization_id = $2;

-- name: delivery_failed
UPDATE webhooks.deliveries
SET status = 'failed', status_code = $3, response_body = $4, error = $5, updated_at = now()
WHERE id = $1 AND organization_id = $2;

-- name: endpoint_succeeded
UPDATE webhooks.endpoints
SET failure_count = 0, last_status = 'success', last_triggered_at = now()
WHERE id = $1 AND organization_id = $2;

-- name: endpoint_attempt_failed
-- An attempt failed and the delivery will be retried: nothing counts yet.
UPDATE webhooks.endpoints
SET last_status = CASE WHEN enabled THEN 'failed' ELSE last_status END,
    last_triggered_at = now()
WHERE id = $1 AND organization_id = $2;

-- name: endpoint_delivery_failed
-- A delivery failed for good: one more consecutive failure; at $3 the
-- endpoint disables itself. `disabled` is true only for that transition.
WITH old AS (
    SELECT id, enabled, failure_count FROM webhooks.endpoints
    WHERE id = $1 AND organization_id = $2
    FOR UPDATE
)
UPDATE webhooks.endpoints e
SET failure_count = old.failure_count + 1,
    enabled = old.enabled AND old.failure_count + 1 < $3,
    last_status = CASE WHEN NOT old.enabled THEN e.last_status
                       WHEN old.failure_count + 1 >= $3 THEN 'auto_disabled'
                       ELSE 'failed' END,
    disabled_reason = CASE WHEN old.enabled AND old.failure_count + 1 >= $3 THEN 'failures'
                           ELSE e.disabled_reason END,
    last_triggered_at = now(), updated_at = now()
FROM old
WHERE e.id = old.id
RETURNING e.id, e.name, e.url, e.failure_count, (old.enabled AND NOT e.enabled) AS disabled;

-- name: endpoint_gone
-- The receiver answered 410 Gone: stop sending. `disabled` is true only for
-- the transition (a second 410 in flight changes nothing).
WITH old AS (
    SELECT id, enabled FROM webhooks.endpoints
    WHERE id = $1 AND organization_id = $2
    FOR UPDATE
)
UPDATE webhooks.endpoints e
SET enabled = FALSE, last_status = 'auto_disabled', disabled_reason = 'gone',
    last_triggered_at = now(), updated_at = now()
FROM old
WHERE e.id = old.id
RETURNING e.id, e.name, e.url, e.failure_count, old.enabled AS disabled;

-- ===========================================================================
-- Own events (outbox; maintenance_tx)
-- ===========================================================================

-- name: outbox_insert
INSERT INTO webhooks.outbox (organization_id, event_type, payload) VALUES ($1, $2, $3);

-- name: outbox_next_batch
SELECT id, organization_id, event_type, payload::text AS payload, created_at
FROM webhooks.outbox
WHERE published_at IS NULL
ORDER BY id
LIMIT $1;

-- name: outbox_mark_published
UPDATE webhooks.outbox SET published_at = now()
WHERE id = ANY ($1::bigint[]) AND published_at IS NULL;

-- ===========================================================================
-- Retention (maintenance_tx); the caller repeats while batches come back full
-- ===========================================================================

-- name: delete_old_deliveries
WITH doomed AS (
    SELECT id FROM webhooks.deliveries
    WHERE created_at < now() - make_interval(secs => $1)
    ORDER BY created_at
    LIMIT $2
)
DELETE FROM webhooks.deliveries d USING doomed WHERE d.id = doomed.id;

-- name: delete_old_inbound
WITH doomed AS (
    SELECT id FROM webhooks.inbound_deliveries
    WHERE created_at < now() - make_interval(secs => $1)
    ORDER BY created_at
    LIMIT $2
)
DELETE FROM webhooks.inbound_deliveries i USING doomed WHERE i.id = doomed.id;

-- name: delete_published_outbox
DELETE FROM webhooks.outbox
WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1);

-- ===========================================================================
-- Inbound delivery log (tenant_tx)
-- ===========================================================================

-- name: insert_inbound
INSERT INTO webhooks.inbound_deliveries
    (organization_id, provider, event_type, provider_event_id, matched_queue, job_id, status)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: list_inbound
-- Newest first. $2 status, $3 since, $4 queue (NULL = any).
SELECT * FROM webhooks.inbound_deliveries
WHERE organization_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::timestamptz IS NULL OR created_at >= $3)
  AND ($4::text IS NULL OR matched_queue = $4)
ORDER BY created_at DESC, id
LIMIT $5 OFFSET $6;
