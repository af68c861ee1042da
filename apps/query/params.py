"""Checks on a request's parameters as a whole (each parameter's own parsing is its module's)."""

from __future__ import annotations

from typing import Iterable

from pulseboard.errors import ParamError


def params_check(params: Iterable[str], *, allowed: frozenset[str]) -> None:
    """A 400 naming the first unknown parameter: a misspelt one would otherwise be ignored
    and show figures the caller did not ask for."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ParamError(unknown[0], f"is not a parameter here (use {', '.join(sorted(allowed))})")
