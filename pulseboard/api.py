"""What the JSON APIs of every app share: one shape for every error.

``REST_FRAMEWORK["EXCEPTION_HANDLER"]`` points here, so each API raises and none shapes
its own errors::

    {"error": "invalid_parameter", "message": "must be one of hour, day, week", "field": "interval"}
    {"error": "invalid_input", "message": "A funnel needs between 2 and 20 steps.", "field": "steps",
     "errors": [{"field": "steps", "message": "A funnel needs between 2 and 20 steps."}]}
    {"error": "not_found", "message": "No such project.", "field": null}

``error`` is a stable code, ``message`` says what is wrong in words, ``field`` names the
input it is about (a dotted path into a JSON body, ``steps.1.filters.0.value``; null when
no one field is to blame). Invalid input lists every problem in ``errors``; ``message``
and ``field`` are the first of them.
"""

from __future__ import annotations

from typing import Any, Iterator

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from pulseboard.errors import NotFound, ParamError

NON_FIELD_KEYS = frozenset({"non_field_errors", "__all__"})


def error_body(code: str, message: str, *, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, "field": field, **extra}


def _problems(detail: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str | None, str]]:
    """``(field path, message)`` of each error in DRF's nested error detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _problems(value, path if key in NON_FIELD_KEYS else (*path, str(key)))
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)):
                # A list of objects (``steps``): each item's errors, under its index.
                yield from _problems(item, (*path, str(index)))
            else:
                yield (".".join(path) or None, str(item))
    else:
        yield (".".join(path) or None, str(detail))


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Every error an API raises, in the one shape above. None (a 500) for anything else."""
    if isinstance(exc, ParamError):
        return Response(error_body(exc.code, exc.message, field=exc.field), status=400)
    if isinstance(exc, (NotFound, Http404)):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    response = drf_exception_handler(exc, context)  # its status, headers and rollback
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        problems = [{"field": field, "message": message} for field, message in _problems(exc.detail)]
        first = problems[0] if problems else {"field": None, "message": "Invalid input."}
        response.data = error_body("invalid_input", first["message"], field=first["field"], errors=problems)
    else:
        response.data = error_body(getattr(exc.detail, "code", None) or exc.default_code, str(exc.detail))
    return response
