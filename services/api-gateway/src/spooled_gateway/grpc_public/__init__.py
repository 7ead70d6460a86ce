"""The public gRPC API, ``spooled.v1`` (QueueService, WorkerService), wire-compatible with upstream.

Layout:

* ``server``          — ``start_public_grpc(app, settings)``: binding, health, reflection.
* ``queue_service``   — QueueService servicer (unary RPCs and StreamJobs).
* ``process_jobs``    — one ProcessJobs bidi stream.
* ``batch_service``   — our ``spooled.batch.v1`` BatchService (EnqueueBatch).
* ``worker_service``  — WorkerService servicer.
* ``ops``             — the queue operations shared by unary RPCs and ProcessJobs.
* ``rules``           — defaults, clamps and validation texts (API.md §13).
* ``convert``         — public ↔ internal messages, Struct ↔ JSON.
* ``status``          — AppError → gRPC status / in-band ErrorResponse.
* ``auth``            — API key from ``x-api-key`` / ``authorization`` metadata.

Every job operation goes to queue-core through ``app.state.core``; nothing
here touches job tables.
"""
