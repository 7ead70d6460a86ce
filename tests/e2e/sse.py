"""A raw SSE client for the e2e tests: reads a stream on a thread, frame by frame."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx


class SseClient:
    """Reads an SSE stream on a thread; frames are dicts of their fields."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url, self.headers = url, headers or {}
        self.frames: list[dict[str, str]] = []
        self.connected = threading.Event()
        self.status: int | None = None
        self._http = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._http.stream("GET", self.url, headers=self.headers) as r:
                self.status = r.status_code
                frame: dict[str, str] = {}
                for line in r.iter_lines():
                    if line.startswith(":"):
                        if "connected" in line:
                            self.connected.set()
                    elif line == "":
                        if frame:
                            self.frames.append(frame)
                        frame = {}
                    else:
                        key, _, value = line.partition(":")
                        frame[key] = value.removeprefix(" ")
        except Exception:  # closed by close(): the thread just ends
            pass

    def envelopes(self) -> list[dict[str, Any]]:
        return [json.loads(f["data"]) for f in self.frames if "data" in f]

    def close(self) -> None:
        self._http.close()
        self._thread.join(5)
