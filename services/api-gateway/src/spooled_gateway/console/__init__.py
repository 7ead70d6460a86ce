"""The operator console served at ``/dashboard``: static assets shipped in this package.

Plain HTML, CSS and JavaScript modules (no build step, no CDN): ``static/``
holds everything, ``routes.py`` serves it. The page logs in by exchanging an
API key for a JWT (``POST /api/v1/auth/login``), calls the public REST API
with it, and follows live events over SSE (``/api/v1/events?token=``).
Its content security policy is set by ``middleware.EdgeMiddleware``.
"""
