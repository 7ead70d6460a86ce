"""The operator dashboard's summary (``GetDashboard`` → ``GET /api/v1/dashboard``)."""
