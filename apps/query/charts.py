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

# finisher(project=..., date_range=...) -> the keys it adds to every chart over the range.
Finisher = Callable[..., dict]
_finishers: dict[str, Finisher] = {}


def time_chart_finisher_add(name: str, finisher: Finisher) -> None:
    """Have every time-series chart carry what ``finisher`` gives (once per ``name``)."""
    _finishers[name] = finisher


def partial_from(date_range: DateRange, *, now: datetime | None = None) -> int | None:
    """The index of the first bucket that is not over yet (the one holding ``now``, or the
    first one when the whole range is to come); None when every bucket is over."""
    now = now or timezone.now()
    starts = date_range.bucket_starts()
    if not starts or date_range.date_to <= now:
        return None
    return max(bisect_right(starts, now) - 1, 0)


def time_charts_finish(charts: list[dict], *, project, date_range: DateRange) -> None:
    """Finish, in place, those of ``charts`` whose labels are ``date_range``'s buckets (a
    chart over something else is left as it is). What they carry is worked out once, for
    all of them: a page of two charts over one range reads the annotations once."""
    labels = date_range.labels()
    charts = [chart for chart in charts if labels and list(chart.get("labels") or []) == labels]
    if not charts:
        return
    added: dict = {}
    partial = partial_from(date_range)
    if partial is not None:
        added["partial_from"] = partial
    for finisher in _finishers.values():
        added.update(finisher(project=project, date_range=date_range))
    for chart in charts:
        chart.update(added)


def time_chart_finish(chart: dict, *, project, date_range: DateRange) -> dict:
    """:func:`time_charts_finish` for one chart; returns it."""
    time_charts_finish([chart], project=project, date_range=date_range)
    return chart
