"""The browser pages: the inbox at ``/``, a run's timeline at ``/runs/{run_id}/page``.

Plain HTML, CSS and vanilla JavaScript shipped inside the package (no build step, no
CDN); the files are read with :mod:`importlib.resources`, so they work from a wheel or a
zip as well as from a source checkout. The pages are served without auth: they hold no
data, and every API call they make carries the token the person enters (kept in
``sessionStorage``).
"""

from __future__ import annotations

import functools
import hashlib
import html
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..error_codes import error_body

__all__ = ["page_routes"]

_CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# Scripts and styles only from this server; no inline code, no framing, no plugins.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

_SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@functools.lru_cache(maxsize=1)
def _static_files() -> dict[str, tuple[bytes, str, str]]:
    """``name -> (content, content type, etag)`` for every file of ``static/``."""
    found: dict[str, tuple[bytes, str, str]] = {}
    for entry in files("workflows.server").joinpath("static").iterdir():
        name = entry.name
        suffix = name[name.rfind(".") :] if "." in name else ""
        if not entry.is_file() or suffix not in _CONTENT_TYPES or name.startswith("."):
            continue
        content = entry.read_bytes()
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        found[name] = (content, _CONTENT_TYPES[suffix], etag)
    return found


def _not_found(message: str) -> Response:
    return JSONResponse(error_body("not_found", message), status_code=404)


def _file_response(request: Request, name: str, body: bytes | None = None) -> Response:
    content, content_type, etag = _static_files()[name]
    if body is not None:  # a page filled in for this request: its own validator
        content = body
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if content_type.startswith("text/html"):
        headers.update(_SECURITY_HEADERS)
    else:
        headers["X-Content-Type-Options"] = "nosniff"
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=content_type, headers=headers)


def _page(request: Request, name: str, **values: str) -> Response:
    """An HTML page from ``static/`` with its ``{{placeholders}}`` filled (escaped)."""
    text = _static_files()[name][0].decode("utf-8")
    values["static"] = request.scope.get("root_path", "").rstrip("/") + "/static"
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return _file_response(request, name, text.encode("utf-8"))


async def _inbox(request: Request) -> Response:
    return _page(request, "inbox.html")


async def _run_page(request: Request) -> Response:
    return _page(request, "run.html", run_id=request.path_params["run_id"])


async def _static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in _static_files() or name.endswith(".html"):
        return _not_found(f"no static file {name[:100]!r}")
    return _file_response(request, name)


def page_routes() -> list[BaseRoute]:
    """Routes of the browser pages: ``/``, ``/runs/{run_id}/page`` and ``/static/{name}``.

    Mount them beside the API routes; they need no auth (the pages' API calls do).
    """
    return [
        Route("/", _inbox, methods=["GET"], name="inbox_page", include_in_schema=False),
        Route(
            "/runs/{run_id}/page",
            _run_page,
            methods=["GET"],
            name="run_page",
            include_in_schema=False,
        ),
        Route("/static/{name}", _static, methods=["GET"], name="static", include_in_schema=False),
    ]
