"""``/dashboard``: the console's page and its assets (hash routes, one HTML page)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from starlette.responses import FileResponse, RedirectResponse, Response

router = APIRouter(include_in_schema=False)

#: Where the shipped assets live (a real directory: the wheel is never zipped).
STATIC = Path(str(resources.files(__package__ or "spooled_gateway.console") / "static"))
#: Served with these content types; anything else under static/ is not served.
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
#: The page itself is never cached (it names the assets); assets revalidate.
_NO_STORE = {"Cache-Control": "no-store"}
_REVALIDATE = {"Cache-Control": "no-cache"}


@router.get("/dashboard")
async def page() -> Response:
    return FileResponse(STATIC / "index.html", media_type=_TYPES[".html"], headers=_NO_STORE)


@router.get("/dashboard/")
async def page_slash() -> Response:
    return RedirectResponse("/dashboard", status_code=308)


def _index(root: Path) -> dict[str, tuple[Path, str]]:
    """Every servable file by its path under static/, read once at import.

    Requests are looked up here and nowhere else, so no path a client sends
    (``..``, encoded or not) can reach a file outside this table.
    """
    return {
        f.relative_to(root).as_posix(): (f, _TYPES[f.suffix])
        for f in sorted(root.rglob("*"))
        if f.is_file() and f.suffix in _TYPES
    }


ASSETS = _index(STATIC)


@router.get("/dashboard/assets/{path:path}")
async def asset(path: str) -> Response:
    """One shipped file (known types only)."""
    found = ASSETS.get(path)
    if found is None:
        raise HTTPException(status_code=404, detail="Not found")
    file, media_type = found
    return FileResponse(file, media_type=media_type, headers=_REVALIDATE)
