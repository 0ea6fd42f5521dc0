"""Jinja templates and what every page shares (the navigation)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from app.resources import TEMPLATES_DIR

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

NAV = [
    ("lessons", "Lessons", "/lessons"),
    ("kernel_lab", "Kernel Lab", "/kernel-lab"),
    ("builder", "Model Builder", "/builder"),
    ("jobs", "Jobs", "/jobs"),
    ("draw", "Draw", "/draw"),
    ("classes", "Class", "/classes"),
    ("api", "API", "/docs"),
]
templates.env.globals["nav"] = NAV


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def describe_errors(errors: list[dict[str, Any]]) -> list[str]:
    """'field: message' lines for people."""
    lines = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "form", "path")]
        lines.append(f"{'.'.join(loc) or 'request'}: {e.get('msg', '')}")
    return lines
