"""Tests of the deployment artefacts (deploy/, Dockerfile): run by `make deploy-check`."""
