"""Response body of the readiness probe (``/health/ready``, ``/ready``)."""

from __future__ import annotations

from typing import Literal

from spooled_gateway.schemas.common import ResponseModel


class Readiness(ResponseModel):
    """Both dependencies this pod needs, and the verdict (``not_ready`` comes with a 503)."""

    status: Literal["ready", "not_ready"]
    database: bool
    queue_core: bool
