"""Numbered SQL migrations of the ``webhooks`` schema."""
