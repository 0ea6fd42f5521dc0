"""Jinja templates and what every page shares (the navigation)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from app.geometry import SAME_PADDING_NOTE
from app.networks.inputs import drawable
from app.resources import TEMPLATES_DIR
from app.web import public_links

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
templates.env.globals["drawable"] = drawable  # whether Draw is offered for a model


@pass_context
def public_url(context: Context, path: str = "") -> str:
    """A path of this site as a whole link for others to open (app/web/public_links.py);
    the path itself where there is no request (a panel rendered for a live feed)."""
    request = context.get("request")
    return public_links.public_link(request, path) if request is not None else path


@pass_context
def configured_public_url(context: Context) -> str:
    """CNNPG_PUBLIC_URL, or "" (a page's script then uses the address it was opened by)."""
    request = context.get("request")
    return request.app.state.services.settings.public_url or "" if request is not None else ""


@pass_context
def link_stays_here(context: Context) -> bool:
    """Whether the links this page shares open only on this computer (127.0.0.1 and no
    CNNPG_PUBLIC_URL): the page then says how to give students a link they can open."""
    request = context.get("request")
    return request is not None and public_links.only_this_computer(
        public_links.public_base(request))


templates.env.globals["public_url"] = public_url
templates.env.globals["link_stays_here"] = link_stays_here
templates.env.globals["configured_public_url"] = configured_public_url


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
