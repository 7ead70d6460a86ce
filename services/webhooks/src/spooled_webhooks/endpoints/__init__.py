"""Outgoing webhook endpoints (API.md §10.1): the catalog of events, CRUD and tests."""
