"""Breakdown values: the top values of a property, the rest folded into one.

A breakdown keeps the 10 values with the most events (trends) or people (funnels) and
folds the others into :data:`OTHER`; events without the property have the value "".
"""

from __future__ import annotations

OTHER = "$other"


def breakdown_label(value: str) -> str:
    """How a breakdown value is shown: "Other" for the folded rest, "(none)" for events
    without the property, else the value itself."""
    if value == OTHER:
        return "Other"
    return value if value else "(none)"
