"""Domain errors: bad input named by its field, independent of HTTP."""

from __future__ import annotations


class InvalidInput(ValueError):
    """Input a caller can fix: `field` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class LimitExceeded(InvalidInput):
    """Input over a configured limit (the message names the limit and its value)."""

    def __init__(self, field: str, message: str, status_code: int = 422) -> None:
        super().__init__(field, message)
        self.status_code = status_code
