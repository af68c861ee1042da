"""What every time-series chart carries beside its figures.

A chart spec (as ``static/js/charts.js`` draws it) whose labels are a date range's buckets
is finished by :func:`time_chart_finish`, whichever insight drew it:

* ``partial_from``: the index of the bucket that holds the present moment, when the range
  runs past it (a range ending today, the default of every page). That bucket's figure is
  still growing, so the chart draws it (and any bucket after it) dashed or paler, and its
  tooltip says so: the fall at the end of a chart is then not read as a drop.
* What the apps above this one add: the project's annotations (``apps.analytics``), through
  :func:`time_chart_finisher_add` when that app is ready. An app cannot import one beside
  or above it (``pulseboard/tests/test_layering.py``), so the Sessions chart of ``apps.web``
  gets its notes this way, as the trends of ``apps.analytics`` do.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

from apps.query.dates import DateRange

# finisher(chart, project=..., date_range=...): adds to the spec in place.
Finisher = Callable[..., None]
_finishers: dict[str, Finisher] = {}


def time_chart_finisher_add(name: str, finisher: Finisher) -> None:
    """Have every time-series chart pass through ``finisher`` (once per ``name``)."""
    _finishers[name] = finisher


def partial_from(date_range: DateRange, *, now: datetime | None = None) -> int | None:
    """The index of the first bucket that is not over yet (the one holding ``now``, or the
    first one when the whole range is to come); None when every bucket is over."""
    now = now or timezone.now()
    starts = date_range.bucket_starts()
    if not starts or date_range.date_to <= now:
        return None
    return max(bisect_right(starts, now) - 1, 0)


def time_chart_finish(chart: dict, *, project, date_range: DateRange) -> dict:
    """Finish ``chart`` (in place, and return it) when its labels are ``date_range``'s
    buckets; a chart over something else is returned as it is."""
    labels = date_range.labels()
    if not labels or list(chart.get("labels") or []) != labels:
        return chart
    partial = partial_from(date_range)
    if partial is not None:
        chart["partial_from"] = partial
    for finisher in _finishers.values():
        finisher(chart, project=project, date_range=date_range)
    return chart
