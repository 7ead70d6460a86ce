"""Spooled webhooks service: outgoing deliveries from the job event stream, incoming ingestion.

Layout (one folder per noun):

* ``endpoints/``  org-level outgoing webhooks: catalog, CRUD, test sends
* ``deliveries/`` rows from stream events (fanout), the dispatcher, outcomes, API view
* ``sending/``    one HTTP attempt: SSRF guard, signing, formats, backoff, sender
* ``events/``     the durable JetStream consumer and this service's own outbox
* ``inbound/``    incoming webhooks: verification, job mapping, the log
"""
