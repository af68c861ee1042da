"""Cards: a figure of a period next to the same figure of the period just before it."""

from __future__ import annotations


def change_pct(current: float, previous: float) -> float | None:
    """The change in percent, to one decimal; None when there is nothing to compare with."""
    if not previous:
        return None
    return round((current - previous) / previous * 100, 1)


def period_card(current: float, previous: float) -> dict:
    """A card as every insight API answers it: ``value``, ``previous`` and ``change_pct``."""
    return {"value": current, "previous": previous, "change_pct": change_pct(current, previous)}
