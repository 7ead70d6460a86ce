"""Spooled billing service: plans, limits, usage counters and Stripe subscriptions."""
