"""A saved funnel's results as a plain function: ``(project, params) -> result``.

The funnel page (``funnels-detail``) and anything else that shows a funnel (a saved
insight's dashboard tile, its CSV or JSON results) compute it here, so they show the same
numbers. ``params`` is a ``QueryDict`` of the page's GET parameters: the range (``range``
or ``date_from``/``date_to``), an optional ``breakdown``/``breakdown_type`` overriding the
funnel's own, and, when no funnel is passed, ``funnel_id``. A parameter that cannot be used
raises :class:`pulseboard.errors.ParamError` naming it.
"""

from __future__ import annotations

from typing import Any

from apps.funnels import selectors
from apps.funnels.models import Funnel
from apps.projects.models import Project
from apps.query.dates import date_range_from_query
from pulseboard.errors import NotFound, ParamError


def duration_humanize(seconds: float | None) -> str:
    """A time to convert the way people read it: "45s", "3m 20s", "2h 5m", "1d 4h"; "—" for none."""
    if seconds is None:
        return "—"
    total = int(round(seconds))
    if total < 60:
        return f"{total}s" if total or not seconds else "<1s"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m {secs}s" if secs else f"{minutes}m"


def window_humanize(seconds: int) -> str:
    """A conversion window in its largest whole unit: "14 days", "6 hours", "90 minutes"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def results_context(results: dict, *, chart_id: str) -> dict[str, Any]:
    """What the results partial shows: the chart, the per-step rows and the breakdown table."""
    steps = results["steps"]
    rows = [
        {
            **step,
            "avg_time": duration_humanize(step["avg_time_to_convert"]),
            "median_time": duration_humanize(step["median_time_to_convert"]),
        }
        for step in steps
    ]
    breakdown_rows = [
        {
            "value": value["value"],
            "label": value["label"],
            "counts": [step["count"] for step in value["steps"]],
            "conversion": value["steps"][-1]["conversion_from_start"] if value["steps"] else 0.0,
        }
        for value in results["breakdown_values"]
    ]
    labels = [f"{step['step']}. {step['label']}" for step in steps]
    return {
        "results": results,
        "rows": rows,
        "breakdown_rows": breakdown_rows,
        "chart_id": chart_id,
        "chart": {"type": "bar", "labels": labels, "datasets": [{"label": "People", "data": [s["count"] for s in steps]}]},
        "mode_label": Funnel.OrderMode(results["mode"]).label if results["mode"] in Funnel.OrderMode.values else results["mode"],
        "window_label": window_humanize(results["window_seconds"]),
        "entered": steps[0]["count"] if steps else 0,
        "completed": steps[-1]["count"] if steps else 0,
        "overall_conversion": steps[-1]["conversion_from_start"] if steps else 0.0,
    }


def funnel_of_params(*, project: Project, params) -> Funnel:
    """The saved funnel ``funnel_id`` names; a ParamError when it is missing or gone."""
    value = (params.get("funnel_id") or "").strip()
    if not value.isdigit() or not 0 < int(value) < 2**63:
        raise ParamError("funnel_id", "name a saved funnel of this project by its id")
    try:
        return selectors.funnel_get(project=project, funnel_id=int(value))
    except NotFound:
        raise ParamError("funnel_id", f"funnel {value} no longer exists in this project (was it deleted?)") from None


def funnel_insight(project: Project, params, *, funnel: Funnel | None = None, chart_id: str = "funnel-chart") -> dict:
    """The funnel page's figures for ``params``: the funnel, its definition (with the
    breakdown asked for), the range, the engine's results and the results partial's context."""
    funnel = funnel or funnel_of_params(project=project, params=params)
    date_range = date_range_from_query(params=params, tz_name=project.timezone)
    override = params.get("breakdown")
    breakdown = override.strip() if override is not None else None
    kind = params.get("breakdown_type")
    breakdown_type = kind if kind in ("event", "person") else None
    definition = funnel.definition(breakdown=breakdown, breakdown_type=breakdown_type)
    results = selectors.funnel_results(project=project, definition=definition, date_range=date_range)
    return {
        "funnel": funnel,
        "definition": definition,
        "date_range": date_range,
        "results": results,
        "r": results_context(results, chart_id=chart_id),
    }


def funnel_table(result: dict) -> tuple[list[str], list[list]]:
    """One row per step: people, conversion from the start and from the previous step, drop-off
    and times (seconds)."""
    header = ["step", "event", "label", "people", "conversion_from_start", "conversion_from_previous", "drop_off",
              "avg_time_seconds", "median_time_seconds"]
    rows = [
        [s["step"], s["event"], s["label"], s["count"], s["conversion_from_start"], s["conversion_from_previous"],
         s["drop_off"], s["avg_time_to_convert"], s["median_time_to_convert"]]
        for s in result["results"]["steps"]
    ]
    return header, rows
