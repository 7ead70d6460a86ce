"""Spooled realtime: live job events over SSE and WebSocket."""
