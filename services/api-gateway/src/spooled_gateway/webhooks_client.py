"""The gateway's path to webhooks: the webhooks service's internal gRPC API.

``await webhooks.call(tenant, "CreateWebhook", request)`` runs the RPC with the
tenant and internal token in metadata and turns a failed call back into the
AppError the service raised (a service that is down is a 503).
"""

from __future__ import annotations

from spooled_common import rpc
from spooled_proto.spooled.internal.v1 import webhooks_pb2_grpc


class WebhooksClient(rpc.InternalClient):
    #: Endpoint tests and manual retries wait for one HTTP attempt (10 s) and DNS.
    default_timeout = 20.0

    def __init__(self, addr: str, token: str) -> None:
        super().__init__(addr, token, webhooks_pb2_grpc.WebhooksStub)
