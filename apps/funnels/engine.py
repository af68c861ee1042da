"""The funnel engine: a definition in, per-step figures out. See ``sql.py`` for how the
queries work and the README for the semantics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from apps.analytics.sql import PropertyFilter
from apps.funnels import sql
from pulseboard import clickhouse

MODES = ("ordered", "strict", "unordered")
WINDOW_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
MIN_STEPS, MAX_STEPS = 2, 20
OTHER = "$other"


@dataclass(frozen=True)
class Step:
    event: str
    filters: tuple[PropertyFilter, ...] = ()
    label: str = ""


@dataclass(frozen=True)
class FunnelDefinition:
    steps: tuple[Step, ...]
    window_seconds: int = 14 * 86400
    mode: str = "ordered"
    breakdown: str | None = None


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _figures(definition: FunnelDefinition, rows: dict[int, tuple]) -> list[dict]:
    """Per-step results from ``{step: (reached, avg_seconds, median_seconds)}``."""
    steps, first, previous = [], None, None
    for index, step in enumerate(definition.steps, start=1):
        reached, avg, median = rows.get(index, (0, None, None))
        reached = int(reached)
        first = reached if first is None else first
        steps.append(
            {
                "step": index,
                "event": step.event,
                "label": step.label or step.event,
                "count": reached,
                "conversion_from_start": round(reached / first * 100, 2) if first else 0.0,
                "conversion_from_previous": round(reached / previous * 100, 2) if previous else (100.0 if index == 1 and reached else 0.0),
                "drop_off": (previous - reached) if previous is not None else 0,
                "avg_time_to_convert": None if index == 1 or not reached or avg is None else round(float(avg), 3),
                "median_time_to_convert": None if index == 1 or not reached or median is None else round(float(median), 3),
            }
        )
        previous = reached
    return steps


def funnel_run(*, project_id: int, definition: FunnelDefinition, date_from: datetime, date_to: datetime) -> dict:
    """People entering the funnel in ``[date_from, date_to)`` and how far they got."""
    if definition.mode not in MODES:
        raise ValueError(f"unknown funnel mode {definition.mode!r}")
    if not MIN_STEPS <= len(definition.steps) <= MAX_STEPS:
        raise ValueError(f"a funnel has {MIN_STEPS} to {MAX_STEPS} steps")
    params = {
        "project_id": project_id,
        "date_from": date_from,
        "date_to": date_to,
        "to_ms": _epoch_ms(date_to),
        "scan_to": date_to + timedelta(seconds=definition.window_seconds),
        "window_ms": definition.window_seconds * 1000,
        "step_events": sorted({step.event for step in definition.steps}),
    }
    conditions = sql.step_conditions(definition.steps, params)
    n = len(definition.steps)
    overall = clickhouse.query(sql.funnel_query(n, definition.mode, conditions), params).rows
    result = {
        "mode": definition.mode,
        "window_seconds": definition.window_seconds,
        "breakdown": definition.breakdown,
        "steps": _figures(definition, {row[1]: row[2:] for row in overall}),
        "breakdown_values": [],
    }
    if definition.breakdown:
        params["breakdown"] = definition.breakdown
        rows = clickhouse.query(sql.funnel_breakdown_query(n, definition.mode, conditions), params).rows
        groups: dict[str, dict[int, tuple]] = {}
        for value, step, *figures in rows:
            groups.setdefault(value, {})[step] = tuple(figures)
        values = [
            {"value": value, "label": "Other" if value == OTHER else (value or "(none)"), "steps": _figures(definition, figures)}
            for value, figures in groups.items()
        ]
        values.sort(key=lambda v: (v["value"] == OTHER, -v["steps"][0]["count"], v["value"]))
        result["breakdown_values"] = values
    return result
