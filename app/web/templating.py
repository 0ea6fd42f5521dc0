"""Jinja templates and what every page shares (the navigation)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from app.geometry import SAME_PADDING_NOTE
from app.resources import TEMPLATES_DIR

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

NAV = [
    ("lessons", "Lessons", "/lessons"),
    ("kernel_lab", "Kernel Lab", "/kernel-lab"),
    ("builder", "Model Builder", "/builder"),
    ("jobs", "Jobs", "/jobs"),
    ("models", "Models", "/models"),
    ("datasets", "Datasets", "/datasets"),
    ("draw", "Draw", "/draw"),
    ("explain", "Explain", "/explain"),
    ("classes", "Class", "/classes"),
    ("api", "API", "/docs"),
]
templates.env.globals["nav"] = NAV
templates.env.globals["same_padding_note"] = SAME_PADDING_NOTE


def duration(seconds: float | None) -> str:
    """Roughly how long, for people: "40 s", "3 min", "1 h 5 min"."""
    if seconds is None:
        return "—"
    s = max(0, round(seconds))
    if s < 90:
        return f"{s} s"
    if s < 3600:
        return f"{round(s / 60)} min"
    return f"{s // 3600} h {round(s % 3600 / 60)} min"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


templates.env.filters["duration"] = duration
templates.env.filters["ordinal"] = ordinal


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def describe_errors(errors: list[dict[str, Any]]) -> list[str]:
    """'field: message' lines for people."""
    lines = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "form", "path")]
        lines.append(f"{'.'.join(loc) or 'request'}: {e.get('msg', '')}")
    return lines
