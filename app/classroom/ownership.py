"""Anonymous ownership: an unguessable token per client, stored only as a hash.

Whoever submits a job (and so creates a model) is given a token; only that token, or
the administrator's (CNNPG_ADMIN_TOKEN), may cancel the job or delete the model.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import TypeGuard

from app.errors import Forbidden

COOKIE = "cnnpg_owner"
HEADER = "X-Owner-Token"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


class NotOwner(Forbidden):
    """Refused: the caller's token is not the owner's (nor the administrator's)."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def well_formed(token: str | None) -> TypeGuard[str]:
    return token is not None and bool(_TOKEN.match(token))


def owner_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def may_change(owner: str | None, token: str | None, admin_token: str | None) -> bool:
    """True for the owner's token or the administrator's; never for a missing one."""
    if not well_formed(token):
        return False
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return True
    return owner is not None and hmac.compare_digest(owner_hash(token), owner)


def require(owner: str | None, token: str | None, admin_token: str | None, what: str) -> None:
    if not may_change(owner, token, admin_token):
        reason = ("no owner token was sent" if not token
                  else "this owner token is not the one that created it")
        raise NotOwner(f"only whoever created {what} (with its owner token, sent as the "
                       f"{COOKIE} cookie or the {HEADER} header) or an administrator may do "
                       f"this: {reason}")
