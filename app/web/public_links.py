"""Links shown for others to open: a QR code, "copy link", a class's join link, a model's
snippets. They must work on the students' devices, so they are made on the address the
students can reach: `CNNPG_PUBLIC_URL` when it is set, else the address the teacher's
browser reached the server by (the request's own base URL, from its Host header or a
proxy's forwarded host), never a bare path or a name only the server knows itself by.
"""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlsplit

from fastapi import Request

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def public_base(request: Request) -> str:
    """The origin links for others are made on: scheme, host and port, no trailing slash."""
    configured: str | None = request.app.state.services.settings.public_url
    return configured or str(request.base_url).rstrip("/")


def public_link(request: Request, path: str = "") -> str:
    """A path of this site (`/classes/join?code=…`) as a whole link others can open."""
    return public_base(request) + path


def configured(request: Request) -> bool:
    return bool(request.app.state.services.settings.public_url)


def reachable_hosts(request: Request) -> set[str]:
    """The host[:port] forms a link to this server may have: the one the browser used, and
    the public one."""
    hosts = {request.headers.get("host", ""), urlsplit(public_base(request)).netloc}
    return {h for h in hosts if h}


def only_this_computer(base: str) -> bool:
    """Whether a link on `base` opens only on the computer it was made on (a loopback
    address: 127.0.0.1, ::1, localhost), so no student's phone can follow it."""
    host = urlsplit(base).hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
