"""Breakdown values: the top values of a property, the rest folded into one.

A breakdown keeps the 10 values with the most events (trends) or people (funnels) and
folds the others into :data:`OTHER`; events without the property have the value "".
"""

from __future__ import annotations

from pulseboard.errors import ParamError

OTHER = "$other"


def breakdown_label(value: str) -> str:
    """How a breakdown value is shown: "Other" for the folded rest, "(none)" for events
    without the property, else the value itself."""
    if value == OTHER:
        return "Other"
    return value if value else "(none)"


BREAKDOWN_TYPES = ("event", "person")


def breakdown_type_parse(value: str | None) -> str:
    """``breakdown_type``: whose property a breakdown names, the event's (default) or its
    person's; anything else is a :class:`ParamError`."""
    if not value:
        return "event"
    if value not in BREAKDOWN_TYPES:
        raise ParamError("breakdown_type", f"must be one of {', '.join(BREAKDOWN_TYPES)} (default event)")
    return value
