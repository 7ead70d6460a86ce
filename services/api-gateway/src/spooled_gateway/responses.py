"""The gateway's JSON response: orjson-rendered.

FastAPI 0.165 deprecated its ORJSONResponse; this is the same thing without the
warning, used as the app's default response class and by the error handlers.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
