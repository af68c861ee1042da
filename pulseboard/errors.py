"""The errors business logic raises on purpose, in its own words.

Services and selectors never speak HTTP: they raise these, and the edge maps them. A page
answers :class:`NotFound` with the 404 page (:class:`pulseboard.middleware.DomainErrorMiddleware`),
a JSON API with its error shape (:func:`pulseboard.api.exception_handler`), a socket with
its close code. Invalid input found by a service is Django's ``ValidationError``, mapped
the same way.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied


class DomainError(Exception):
    """Base of the errors raised on purpose (anything else is a bug)."""


class NotFound(DomainError):
    """No such object, or one the caller may not know exists: the two are never told apart."""


class Forbidden(DomainError, PermissionDenied):
    """The caller may see the object, but their role does not allow this (a 403). It is
    Django's ``PermissionDenied`` too, so pages and APIs answer it without a mapping of their own."""


class ParamError(DomainError, ValueError):
    """A request parameter that cannot be used, named by ``field``."""

    code = "invalid_parameter"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def text_clean(value, *, field: str, limit: int, required: str | None = None) -> str:
    """Text a person typed, stripped. :class:`ParamError` naming ``field`` when it is not
    text, is longer than ``limit``, holds NUL (Postgres text cannot store it), or is empty
    while ``required`` (the message: what to write). ``None`` is empty text."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ParamError(field, "must be text")
    value = value.strip()
    if "\x00" in value:
        raise ParamError(field, "must not contain NUL characters")
    if required and not value:
        raise ParamError(field, required)
    if len(value) > limit:
        raise ParamError(field, f"at most {limit} characters")
    return value
