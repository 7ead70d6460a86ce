"""Workflows (DAGs of jobs) and job dependencies: models, SQL, services, wire."""
