"""Pages: home, and the pages of the parts still to come, plus the offline API docs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.web import templates

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return templates.TemplateResponse(request, "home.html", {"active": None})


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> Response:
    """Swagger UI from the vendored copy: works offline and under the strict CSP."""
    return templates.TemplateResponse(request, "docs.html", {"active": "api"})


_COMING = {
    "builder": ("Model Builder", "/builder"),
    "jobs": ("Jobs", "/jobs"),
}


def _coming(key: str, title: str):
    def page(request: Request) -> Response:
        return templates.TemplateResponse(
            request, "coming.html",
            {"active": key, "title": title,
             "message": f"The {title} is not built yet: it is the next piece of work on the "
                        "project's issue list."},
        )

    return page


for _key, (_title, _path) in _COMING.items():
    router.add_api_route(_path, _coming(_key, _title), methods=["GET"],
                         response_class=HTMLResponse)
