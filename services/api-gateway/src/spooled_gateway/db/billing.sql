-- The gateway's read copy of an organization's plan (billing owns the truth).
-- Written only from billing's replies: admin plan changes and Stripe events.

-- name: sync_org_plan
-- $2 tier, $3 custom_limits (JSON text or NULL), $4..$8 Stripe subscription state.
-- A soft-deleted organization stays deleted whatever its subscription says.
UPDATE gateway.organizations SET
    plan_tier = $2,
    custom_limits = $3::jsonb,
    stripe_customer_id = $4,
    stripe_subscription_id = $5,
    stripe_subscription_status = $6,
    stripe_current_period_end = $7,
    stripe_cancel_at_period_end = $8,
    updated_at = now()
WHERE id = $1 AND plan_tier <> 'deleted'
RETURNING *;
