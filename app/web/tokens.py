"""Owner tokens over HTTP: sent back as the X-Owner-Token header (API clients) or the
HttpOnly cookie (browsers); handed out on the first job a client submits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Cookie, Header, Response

from app.classroom import ownership


async def presented_token(
    x_owner_token: Annotated[str | None, Header(
        description="The owner token a job submission handed out (API clients).",
        max_length=128)] = None,
    cnnpg_owner: Annotated[str | None, Cookie(include_in_schema=False)] = None,
) -> str | None:
    """The owner token a client sent: the header, else the cookie."""
    return x_owner_token or cnnpg_owner


def token_or_new(token: str | None) -> tuple[str, bool]:
    """The caller's token, or a new one: (token, newly issued)."""
    if token is not None and ownership.well_formed(token):
        return token, False
    return ownership.new_token(), True


def give_token(response: Response, token: str) -> Response:
    """Hand the token to the client: an HttpOnly, SameSite cookie, and a header for APIs."""
    response.set_cookie(ownership.COOKIE, token, max_age=365 * 24 * 3600, httponly=True,
                        samesite="strict", path="/")
    response.headers[ownership.HEADER] = token
    return response


TEACHER_COOKIE = "cnnpg_teacher"


async def presented_teacher_token(
    x_owner_token: Annotated[str | None, Header(
        description="The class's teacher token (or the administrator's).", max_length=128)] = None,
    cnnpg_teacher: Annotated[str | None, Cookie(include_in_schema=False)] = None,
    cnnpg_owner: Annotated[str | None, Cookie(include_in_schema=False)] = None,
) -> str | None:
    """A teacher's token: the header (API clients), else the teacher cookie the class pages
    set, else the owner cookie (a learner's, so that the refusal can say so)."""
    return x_owner_token or cnnpg_teacher or cnnpg_owner


def give_teacher_token(response: Response, token: str) -> Response:
    """Keep a teacher signed in to their class pages: HttpOnly, SameSite, only under /classes."""
    response.set_cookie(TEACHER_COOKIE, token, max_age=90 * 24 * 3600, httponly=True,
                        samesite="strict", path="/classes")
    return response
