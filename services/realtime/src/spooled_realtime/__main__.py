"""`spooled-realtime serve`."""

from __future__ import annotations

from typing import Any

from spooled_common.cli import ServiceCommand

from spooled_realtime.settings import RealtimeSettings


def _app(settings: RealtimeSettings) -> Any:
    from spooled_realtime.app import RealtimeServer

    return RealtimeServer(settings)


COMMAND = ServiceCommand(
    name="realtime",
    settings=RealtimeSettings,
    app=_app,
    serve_help="serve SSE and WebSocket streams plus /health, /ready, /metrics",
)
main = COMMAND.main

if __name__ == "__main__":
    main()
