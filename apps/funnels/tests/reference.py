"""Pure-Python reference of the funnel semantics, used only by the tests.

Written from the rules, attempt by attempt, without the engine's shortcuts:

* a person's events are ordered by time, ties by event id;
* an attempt starts at an event of step 1 inside the date range (any step's event for
  unordered funnels); the window is measured from that event, inclusive;
* ordered: each next step is the first later event (in that order) of that step within
  the window; strict: it must be the very next event of the person; unordered: each step
  is completed by its first event at or after the start, within the window;
* a person counts at the furthest step of any attempt; among those, the attempt that
  started last; its step times give the time to convert, its first event the breakdown.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

import orjson

from apps.query.filters import filter_value_text

OTHER = "$other"


def _prop_text(props: dict, key: str) -> str | None:
    """ClickHouse's text of a property: a string as it is, a number or boolean as it writes
    them (the text filters are normalised to), anything else as JSON."""
    if key not in props:
        return None
    value = props[key]
    text = filter_value_text(value)
    return text if text is not None else orjson.dumps(value).decode()


def matches(e: dict, step) -> bool:
    if e["event"] != step.event:
        return False
    for f in step.filters:
        props = e.get("person_properties", {}) if f.type == "person" else e["properties"]
        text = _prop_text(props, f.key)
        if f.operator == "is_set" and text is None:
            return False
        if f.operator == "equals" and text != f.value:
            return False
        if f.operator == "not_equals" and text == f.value:
            return False
        if f.operator == "contains" and (text is None or f.value.lower() not in text.lower()):
            return False
    return True


def person(e: dict) -> str:
    """Who an event counts for: its ``person`` when a test has merged ids into persons (see
    apps/persons/tests/reference.py), else the first of its ids."""
    return e.get("person") or e.get("user_id") or e.get("anonymous_id") or e["distinct_id"]


def _attempt(evs, start: int, definition) -> list[datetime]:
    """Step times of the attempt starting at ``evs[start]``."""
    steps, window = definition.steps, definition.window_seconds
    t0 = evs[start]["timestamp"]
    if definition.mode == "unordered":
        times = []
        for step in steps:
            for e in evs[start:]:
                if (e["timestamp"] - t0).total_seconds() > window:
                    break
                if matches(e, step):
                    times.append(e["timestamp"])
                    break
        return sorted(times)
    times, position = [t0], start
    for step in steps[1:]:
        found = None
        candidates = evs[position + 1 : position + 2] if definition.mode == "strict" else evs[position + 1 :]
        for offset, e in enumerate(candidates, start=position + 1):
            if (e["timestamp"] - t0).total_seconds() > window:
                break
            if matches(e, step):
                found = offset
                break
        if found is None:
            break
        times.append(evs[found]["timestamp"])
        position = found
    return times


def funnel(events: list[dict], definition, date_from: datetime, date_to: datetime) -> dict:
    """``{"steps": [(count, avg_s, median_s), ...], "breakdown": {value: [...]}}``."""
    by_person = defaultdict(list)
    for e in events:
        by_person[person(e)].append(e)
    counted = []  # (times, first event)
    for evs in by_person.values():
        evs.sort(key=lambda e: (e["timestamp"], e["event_id"]))
        best = None
        for i, e in enumerate(evs):
            if not date_from <= e["timestamp"] < date_to:
                continue
            starts = any(matches(e, s) for s in definition.steps) if definition.mode == "unordered" else matches(e, definition.steps[0])
            if not starts:
                continue
            times = _attempt(evs, i, definition)
            if best is None or len(times) >= len(best[0]):
                best = (times, e)
        if best is not None:
            counted.append(best)

    def figures(group):
        result = []
        for k in range(1, len(definition.steps) + 1):
            reached = [times for times, _ in group if len(times) >= k]
            deltas = [(t[k - 1] - t[k - 2]).total_seconds() for t in reached] if k > 1 else []
            result.append(
                (len(reached), statistics.fmean(deltas) if deltas else None, statistics.median(deltas) if deltas else None)
            )
        return result

    out = {"steps": figures(counted), "breakdown": {}}
    if definition.breakdown:
        kind = getattr(definition, "breakdown_type", "event")
        value_of = lambda first: _prop_text(first.get("person_properties", {}) if kind == "person" else first["properties"], definition.breakdown) or ""  # noqa: E731
        sizes = defaultdict(int)
        for _, first in counted:
            sizes[value_of(first)] += 1
        top = {v for v, _ in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:10]}
        groups = defaultdict(list)
        for times, first in counted:
            value = value_of(first)
            groups[value if value in top else OTHER].append((times, first))
        out["breakdown"] = {value: figures(group) for value, group in groups.items()}
    return out
