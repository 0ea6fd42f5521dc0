"""Pages: home, and the pages of the parts still to come, plus the offline API docs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return templates.TemplateResponse(request, "home.html", {"active": None})


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> Response:
    """Swagger UI from the vendored copy: works offline and under the strict CSP."""
    return templates.TemplateResponse(request, "docs.html", {"active": "api"})

