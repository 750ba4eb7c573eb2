"""``/docs`` (Swagger UI) and ``/redoc`` served with their assets from the service itself, so they work offline.

The scripts and styles are those the ``fastapi-offline`` package ships (Swagger UI 5, ReDoc 2, under their
licences in that package); Swagger UI is started by ``app/static/swagger-init.js`` rather than an inline script.
The pages' Content-Security-Policy allows assets from this service only, plus what each viewer needs to run:
- ``img-src data:`` (both): they draw their icons as ``data:`` SVG images from their own CSS;
- ``style-src 'unsafe-inline'`` (ReDoc only): it writes its styles into ``<style>`` elements at run time
  (styled-components); Swagger UI needs no inline style;
- ``worker-src blob:`` (ReDoc only): its search index runs in a web worker built from a ``blob:`` URL of its own
  bundled code.
Nothing else: no inline script, no ``eval``, no other origin. (ReDoc's sidebar asks for its vendor's logo from
a CDN; the CSP blocks it and ReDoc hides the image, so nothing leaves the machine.)
"""

from __future__ import annotations

import html
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse

from app.core.errors import NotFound

_VENDORED = Path(fastapi_offline.__file__).resolve().parent / "static"
_OURS = Path(__file__).resolve().parent / "static"
ASSETS_PREFIX = "/docs/assets"
# name -> (file, media type): a fixed list, so no path from the URL ever reaches the file system.
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_VENDORED / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (_VENDORED / "swagger-ui.css", "text/css; charset=utf-8"),
    "redoc.standalone.js": (_VENDORED / "redoc.standalone.js", "text/javascript; charset=utf-8"),
    "favicon.png": (_VENDORED / "favicon.png", "image/png"),
    "swagger-init.js": (_OURS / "swagger-init.js", "text/javascript; charset=utf-8"),
}

_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
SWAGGER_HEADERS = {"Content-Security-Policy": _CSP, **_HEADERS}
REDOC_HEADERS = {
    "Content-Security-Policy": _CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    + "; worker-src blob:",
    **_HEADERS,
}

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API reference (Swagger UI)</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API reference (ReDoc)</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and their assets (not in the OpenAPI document). The app must be created with
    ``docs_url=None, redoc_url=None`` so that FastAPI's CDN-based pages are not served."""
    title = html.escape(app.title)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = _SWAGGER_PAGE.format(title=title, assets=ASSETS_PREFIX)
        return HTMLResponse(page, headers=SWAGGER_HEADERS)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(_REDOC_PAGE.format(title=title, assets=ASSETS_PREFIX), headers=REDOC_HEADERS)

    @app.get(ASSETS_PREFIX + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise NotFound("There is nothing at this address.")
        path, media_type = ASSETS[name]
        return FileResponse(
            path,
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )
