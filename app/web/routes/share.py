"""Sharing a page: the QR code of a link to it (templates/partials/share.html and
static/js/share.js show it beside a "copy link" button)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.errors import InvalidInput
from app.imaging.qr import MAX_QR_TEXT, qr_svg
from app.web.public_links import public_base, reachable_hosts

router = APIRouter(include_in_schema=False)


@router.get("/share/qr.svg")
def qr_code(request: Request, url: Annotated[str, Query(max_length=MAX_QR_TEXT)]) -> Response:
    """The QR code of a link to this server (on the address the browser used, or on
    CNNPG_PUBLIC_URL), never of anything else: this is not a QR service for other sites."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.netloc not in reachable_hosts(request):
        raise InvalidInput("query.url", "must be a link to this server "
                           f"({public_base(request)}/…)")
    return Response(qr_svg(url), media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})
