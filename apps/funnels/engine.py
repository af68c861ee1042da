"""The funnel engine: a definition in, per-step figures out. See ``sql.py`` for how the
queries work and the README for the semantics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from apps.funnels import sql
from apps.query.breakdown import OTHER, breakdown_label
from apps.query.filters import PropertyFilter
from pulseboard import clickhouse

MODES = ("ordered", "strict", "unordered")
WINDOW_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
MIN_STEPS, MAX_STEPS = 2, 20


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
    breakdown_type: str = "event"  # or "person": a current property of the person


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


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def _ceil_ms(moment: datetime) -> int:
    """The first whole millisecond at or after ``moment``: events (stored to the
    millisecond) at or after it are exactly those at or after ``moment``."""
    return -((_EPOCH - moment) // _MS)


def _only_starters(definition: FunnelDefinition, params: dict) -> bool:
    """Whether an ordered or strict funnel reads only the people who start it (see
    ``sql.STARTERS_SHARE``); strict funnels read every event of the people they read."""
    if definition.mode == "unordered":
        return False
    names = sorted({step.event for step in definition.steps})
    share = {**params, "start_event": definition.steps[0].event, "names": names, "all_names": definition.mode == "strict"}
    start_events, events = clickhouse.query(sql.EVENT_SHARE, share).rows[0]
    return sql.starters_selective(int(start_events), int(events))


def _run(definition: FunnelDefinition, bounds: tuple[int, int, int], params: dict, *, exact: bool, only_starters: bool) -> list[tuple]:
    """The funnel's query (``exact``: ordered by the event ids themselves) and its rows."""
    from_ms, to_ms, scan_ms = bounds
    layout = sql.layout_for(len(definition.steps), scan_ms - from_ms)
    params = {
        **params,
        "from_key": from_ms << sql.ID_BITS,
        "to_key": to_ms << sql.ID_BITS,
        "scan_key": scan_ms << sql.ID_BITS,
        "drop_bits": layout.drop,
        "time_shift": layout.time_shift,
        "index_bits": layout.index_bits,
    }
    breakdown = definition.breakdown_type if definition.breakdown else None
    funnel = sql.FunnelSQL(definition.steps, definition.mode, layout, params, breakdown=breakdown, exact=exact, only_starters=only_starters)
    return clickhouse.query(funnel.query(), params).rows


def funnel_run(*, project_id: int, definition: FunnelDefinition, date_from: datetime, date_to: datetime) -> dict:
    """People entering the funnel in ``[date_from, date_to)`` and how far they got."""
    if definition.mode not in MODES:
        raise ValueError(f"unknown funnel mode {definition.mode!r}")
    if not MIN_STEPS <= len(definition.steps) <= MAX_STEPS:
        raise ValueError(f"a funnel has {MIN_STEPS} to {MAX_STEPS} steps")
    # The bounds in whole milliseconds; events after scan_to are out of every window.
    window_ms = definition.window_seconds * 1000
    bounds = (_ceil_ms(date_from), _ceil_ms(date_to), _ceil_ms(date_to) + window_ms)
    params = {
        "project_id": project_id,
        **{name: _EPOCH + ms * _MS for name, ms in zip(("date_from", "date_to", "scan_to"), bounds)},
        "window_ms": window_ms,
        **({"breakdown": definition.breakdown} if definition.breakdown else {}),
    }
    only_starters = _only_starters(definition, params)
    rows = _run(definition, bounds, params, exact=False, only_starters=only_starters)
    if any(row[-1] for row in rows):
        # Someone has two events in one millisecond that the packed order cannot tell apart.
        rows = _run(definition, bounds, params, exact=True, only_starters=only_starters)
    total: dict[int, tuple] = {}
    groups: dict[str, dict[int, tuple]] = {}
    for is_total, value, step, *figures, _ambiguous in rows:
        (total if is_total else groups.setdefault(value, {}))[step] = tuple(figures)
    values = [
        {"value": value, "label": breakdown_label(value), "steps": _figures(definition, figures)}
        for value, figures in groups.items()
    ]
    values.sort(key=lambda v: (v["value"] == OTHER, -v["steps"][0]["count"], v["value"]))
    return {
        "mode": definition.mode,
        "window_seconds": definition.window_seconds,
        "breakdown": definition.breakdown,
        "breakdown_type": definition.breakdown_type if definition.breakdown else None,
        "steps": _figures(definition, total),
        "breakdown_values": values,
    }
