"""Span attribute names: OpenTelemetry semantic conventions where one exists, else ``spooled.*``.

Attributes identify things (ids, queue, method, status); they never carry a
payload, a result, an error text written by a worker, a URL's query or a secret.
"""

from __future__ import annotations

# -- HTTP (server side of the gateway, client side of webhook deliveries) ------------
HTTP_METHOD = "http.request.method"
HTTP_ROUTE = "http.route"
HTTP_STATUS = "http.response.status_code"
URL_PATH = "url.path"
URL_SCHEME = "url.scheme"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# -- gRPC ----------------------------------------------------------------------------
RPC_SYSTEM = "rpc.system"
RPC_SERVICE = "rpc.service"
RPC_METHOD = "rpc.method"
RPC_GRPC_STATUS = "rpc.grpc.status_code"

# -- NATS JetStream ------------------------------------------------------------------
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_MESSAGE_ID = "messaging.message.id"
MESSAGING_CONSUMER_GROUP = "messaging.consumer.group.name"

# -- Spooled -------------------------------------------------------------------------
ORG_ID = "spooled.org_id"
QUEUE = "spooled.queue"
JOB_ID = "spooled.job_id"
WORKER_ID = "spooled.worker_id"
#: A job's status after the operation (completed, pending for a retry, deadletter).
JOB_STATUS = "spooled.job.status"
EVENT = "spooled.event"
SCHEDULE_ID = "spooled.schedule_id"
#: The cron tick a scheduler firing is for (ISO 8601, UTC).
SCHEDULE_TICK = "spooled.schedule.tick"
#: Jobs a batch call (claim, bulk create) touched.
BATCH_SIZE = "spooled.batch_size"
WEBHOOK_ID = "spooled.webhook_id"
DELIVERY_ID = "spooled.webhook.delivery_id"
ATTEMPT = "spooled.webhook.attempt"
