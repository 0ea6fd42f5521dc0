"""Domain errors, independent of HTTP.

Each names what the caller sent (`field`) and why it cannot be served. The web layer maps
each class to one status code, in one place (`app/web/errors.py`); nothing below the web
layer knows a status code.
"""

from __future__ import annotations


class InvalidInput(ValueError):
    """Input a caller can fix: `field` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class LimitExceeded(InvalidInput):
    """Input over a configured limit (the message names the limit and its value)."""


class TooLarge(LimitExceeded):
    """Bytes or pixels over a size limit."""


class QueueFull(LimitExceeded):
    """Too many jobs waiting, in all or for one client: try again later."""


class NotFound(LookupError):
    """Nothing with that id; `field` names where the id was sent."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Forbidden(PermissionError):
    """Refused: the caller may not change this (not its owner, or read-only)."""


class Conflict(RuntimeError):
    """The request is valid but the thing is no longer in a state that allows it."""


class Unavailable(RuntimeError):
    """Something the request needs cannot be used right now (a corrupt model file, say)."""
