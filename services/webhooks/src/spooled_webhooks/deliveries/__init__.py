"""Deliveries: rows created from stream events, the dispatcher that sends them, the API view."""
