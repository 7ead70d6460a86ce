"""Incoming webhooks (API.md §10.2): verify the sender, turn the event into a job, log it."""
