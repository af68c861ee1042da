"""Pure-Python reference of every analytics figure, used only by the tests.

Written from the definitions, not from the SQL: a person is the first of user_id,
anonymous_id and distinct_id that is set; buckets are the project's local hours, days and
Monday-weeks; WAU/MAU on a day are the persons active in the 7/30 local days ending that
day. Events are dicts with ``timestamp`` as an aware UTC datetime and ``properties`` a dict.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

from apps.query.filters import filter_value_text

OTHER = "$other"


def person(e: dict) -> str:
    """Who an event counts for: its ``person`` when a test has merged ids into persons (see
    apps/persons/tests/reference.py), else the first of its ids."""
    return e.get("person") or e.get("user_id") or e.get("anonymous_id") or e["distinct_id"]


def props_of(e: dict, kind: str = "event") -> dict:
    """The properties a filter or breakdown of ``kind`` reads: the event's, or its person's
    (``person_properties``, set by the tests that merge ids)."""
    return e.get("person_properties", {}) if kind == "person" else e["properties"]


def bucket_of(ts: datetime, interval: str, tz: ZoneInfo) -> datetime:
    local = ts.astimezone(tz)
    if interval == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    else:
        day = local.date()
        if interval == "week":
            day -= timedelta(days=day.weekday())
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start.astimezone(ZoneInfo("UTC"))


def in_range(events, date_from: datetime, date_to: datetime):
    return [e for e in events if date_from <= e["timestamp"] < date_to]


def series_values(buckets: list[datetime], per_bucket: dict) -> list[int]:
    return [per_bucket.get(b, 0) for b in buckets]


def prop_text(props: dict, key: str) -> str | None:
    """ClickHouse's text of a property: a string as it is, a number or boolean as it writes
    them (the text filters are normalised to), anything else as JSON."""
    if key not in props:
        return None
    value = props[key]
    text = filter_value_text(value)
    return text if text is not None else orjson.dumps(value).decode()


def matches(e: dict, filters: list[dict]) -> bool:
    for f in filters:
        text = prop_text(props_of(e, f.get("type", "event")), f["key"])
        value = f.get("value", "")
        if f["operator"] == "is_set" and text is None:
            return False
        if f["operator"] == "equals" and text != value:
            return False
        if f["operator"] == "not_equals" and text == value:
            return False
        if f["operator"] == "contains" and (text is None or value.lower() not in text.lower()):
            return False
    return True


def count_by_bucket(events, buckets, interval, tz, unique: bool) -> list[int]:
    groups = defaultdict(set) if unique else Counter()
    for e in events:
        b = bucket_of(e["timestamp"], interval, tz)
        if unique:
            groups[b].add(person(e))
        else:
            groups[b] += 1
    return series_values(buckets, {b: len(v) for b, v in groups.items()} if unique else groups)


def trailing_actives(events, last_days: list[date], window: int, tz: ZoneInfo) -> list[int]:
    days_of = defaultdict(set)
    for e in events:
        days_of[e["timestamp"].astimezone(tz).date()].add(person(e))
    values = []
    for day in last_days:
        people = set()
        for i in range(window):
            people |= days_of.get(day - timedelta(days=i), set())
        values.append(len(people))
    return values


def last_days(buckets: list[datetime], date_to: datetime, tz: ZoneInfo) -> list[date]:
    ends = buckets[1:] + [date_to]
    return [(end - timedelta(microseconds=1)).astimezone(tz).date() for end in ends]


def trend(events, *, event, math, buckets, date_from, date_to, interval, tz, filters=(), breakdown=None, breakdown_type="event") -> list[dict]:
    """Lines as (breakdown_value, data), in the API's order."""
    chosen = [e for e in events if e["event"] == event and matches(e, list(filters))]
    if math in ("wau", "mau"):
        window = 7 if math == "wau" else 30
        return [{"breakdown_value": None, "data": trailing_actives(chosen, last_days(buckets, date_to, tz), window, tz)}]
    chosen = in_range(chosen, date_from, date_to)
    unique = math == "unique"
    if breakdown is None:
        return [{"breakdown_value": None, "data": count_by_bucket(chosen, buckets, interval, tz, unique)}]
    raw = Counter(prop_text(props_of(e, breakdown_type), breakdown) or "" for e in chosen)
    top = {value for value, _ in sorted(raw.items(), key=lambda kv: (-kv[1], kv[0]))[:10]}
    lines = defaultdict(list)
    for e in chosen:
        value = prop_text(props_of(e, breakdown_type), breakdown) or ""
        lines[value if value in top else OTHER].append(e)
    result = [{"breakdown_value": v, "data": count_by_bucket(es, buckets, interval, tz, unique)} for v, es in lines.items()]
    result.sort(key=lambda line: (line["breakdown_value"] == OTHER, -sum(line["data"]), line["breakdown_value"]))
    return result


def top_events(events, limit: int) -> list[dict]:
    counts = Counter(e["event"] for e in events)
    users = defaultdict(set)
    for e in events:
        users[e["event"]].add(person(e))
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"event": name, "count": n, "users": len(users[name])} for name, n in ordered]


def card(current: float, previous: float) -> dict:
    change = None if not previous else round((current - previous) / previous * 100, 1)
    return {"value": current, "previous": previous, "change_pct": change}


def overview_cards(events, date_from, date_to, previous_from) -> dict:
    now, before = in_range(events, date_from, date_to), in_range(events, previous_from, date_from)

    def figures(es):
        users = len({person(e) for e in es})
        sessions = len({e["session_id"] for e in es if e.get("session_id")})
        return len(es), users, sessions, (round(len(es) / users, 2) if users else 0.0)

    a, b = figures(now), figures(before)
    return {"events": card(a[0], b[0]), "users": card(a[1], b[1]), "sessions": card(a[2], b[2]), "events_per_user": card(a[3], b[3])}


# --- Retention ---------------------------------------------------------------------------------


def _period_of(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if period == "month" else day


def _periods_between(first: date, later: date, period: str) -> int:
    """How many periods the one starting on ``later`` comes after the one starting on ``first``."""
    if period == "month":
        return (later.year - first.year) * 12 + later.month - first.month
    return (later - first).days // (7 if period == "week" else 1)


def _period_begins(first: date, period: str, n: int, tz: ZoneInfo) -> datetime:
    if period == "month":
        months = first.year * 12 + first.month - 1 + n
        day = date(months // 12, months % 12 + 1, 1)
    else:
        day = first + timedelta(days=n * (7 if period == "week" else 1))
    return datetime.combine(day, datetime.min.time(), tzinfo=tz)


def retention(events, *, start_event, return_event, period, periods, retention_type, first_cohort: date, cohorts: int, tz: ZoneInfo,
              now: datetime, start_filters=(), return_filters=()) -> list[dict]:
    """Cohorts as the API lists them: date, size, values (of the periods begun by ``now``) and
    complete. ``$any_event`` matches every event."""
    def number(e):
        return _periods_between(first_cohort, _period_of(e["timestamp"].astimezone(tz).date(), period), period)

    def chosen(name, filters):
        return [e for e in events if (name == "$any_event" or e["event"] == name) and matches(e, list(filters))]

    starts: dict[str, set[int]] = defaultdict(set)
    if retention_type == "recurring":
        for e in chosen(start_event, start_filters):
            starts[person(e)].add(number(e))
    else:
        first: dict[str, datetime] = {}
        for e in chosen(start_event, start_filters):
            first[person(e)] = min(first.get(person(e), e["timestamp"]), e["timestamp"])
        for who, moment in first.items():
            starts[who].add(number({"timestamp": moment}))
    returns: dict[str, set[int]] = defaultdict(set)
    for e in chosen(return_event, return_filters):
        returns[person(e)].add(number(e))
    result = []
    for c in range(cohorts):
        members = [who for who, periods_of in starts.items() if c in periods_of]
        values, complete = [], []
        for k in range(periods):
            if _period_begins(first_cohort, period, c + k, tz) > now:
                break
            values.append(len(members) if k == 0 else sum(1 for who in members if c + k in returns[who]))
            complete.append(_period_begins(first_cohort, period, c + k + 1, tz) <= now)
        result.append({"date": _period_begins(first_cohort, period, c, tz).date().isoformat(), "size": len(members), "values": values, "complete": complete})
    return result


# --- Stickiness and lifecycle -------------------------------------------------------------------


def stickiness(events, *, event, buckets, date_from, date_to, interval, tz) -> list[int]:
    """``data[n-1]``: the persons who did ``event`` in exactly n of the range's buckets."""
    active: dict[str, set] = defaultdict(set)
    for e in in_range([e for e in events if e["event"] == event], date_from, date_to):
        active[person(e)].add(bucket_of(e["timestamp"], interval, tz))
    sizes = Counter(len(b) for b in active.values())
    return [sizes.get(n, 0) for n in range(1, len(buckets) + 1)]


def lifecycle(events, *, event, buckets, date_to, interval, tz) -> dict:
    """Per bucket: new, returning, resurrecting and dormant (negative) persons."""
    chosen = [e for e in events if (event == "$any_event" or e["event"] == event) and e["timestamp"] < date_to]
    first: dict[str, datetime] = {}
    active: dict[str, set] = defaultdict(set)
    for e in chosen:
        who = person(e)
        first[who] = min(first.get(who, e["timestamp"]), e["timestamp"])
        active[who].add(bucket_of(e["timestamp"], interval, tz))
    before_first = bucket_of(buckets[0] - timedelta(microseconds=1), interval, tz)
    result = {kind: [] for kind in ("new", "returning", "resurrecting", "dormant")}
    for i, b in enumerate(buckets):
        previous = buckets[i - 1] if i else before_first
        counts = Counter()
        for who, buckets_of in active.items():
            now_active, before = b in buckets_of, previous in buckets_of
            if now_active and bucket_of(first[who], interval, tz) == b:
                counts["new"] += 1
            elif now_active and before:
                counts["returning"] += 1
            elif now_active:
                counts["resurrecting"] += 1
            elif before:
                counts["dormant"] -= 1
        for kind in result:
            result[kind].append(counts[kind])
    return result


# --- Maths of a numeric property ----------------------------------------------------------------

# A string counts as a number when it is written like one: digits, an optional fraction and
# exponent, an optional leading minus (the rule of apps.analytics.sql.NUMBER_TEXT).
NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
QUANTILE_LEVELS = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


def property_number(props: dict, key: str) -> float | None:
    """The property as a number, or None: JSON numbers as they are, numeric strings as their
    number; missing, null, booleans, other strings, lists and objects, and anything beyond
    a float's range are None."""
    value = props.get(key)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and NUMBER_TEXT.fullmatch(value):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def metric_of(values: list[float], how: str) -> float | None:
    """One math of a bucket's values; percentiles as ClickHouse's quantileExact: the value
    at 0-based position floor(level * n) of the n sorted values."""
    if not values:
        return 0.0 if how == "sum" else None
    if how == "sum":
        return sum(values)
    if how == "avg":
        return sum(values) / len(values)
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    level = QUANTILE_LEVELS[how]
    ordered = sorted(values)
    return ordered[int(level * len(ordered)) if level < 1 else len(ordered) - 1]


def metric_trend(
    events, *, event, how, key, buckets, date_from, date_to, interval, tz, filters=(), breakdown=None, breakdown_type="event"
) -> list[dict]:
    """Lines of a property math as the API gives them: (breakdown_value, data, total,
    property_events, property_events_total), in the API's order."""
    chosen = in_range([e for e in events if e["event"] == event and matches(e, list(filters))], date_from, date_to)
    valued = [(e, x) for e in chosen if (x := property_number(e["properties"], key)) is not None]

    def line(value, pairs):
        per_bucket = defaultdict(list)
        for e, x in pairs:
            per_bucket[bucket_of(e["timestamp"], interval, tz)].append(x)
        return {
            "breakdown_value": value,
            "data": [metric_of(per_bucket.get(b, []), how) for b in buckets],
            "total": metric_of([x for _, x in pairs], how),
            "property_events": [len(per_bucket.get(b, [])) for b in buckets],
            "property_events_total": len(pairs),
        }

    if breakdown is None:
        return [line(None, valued)]
    raw = Counter(prop_text(props_of(e, breakdown_type), breakdown) or "" for e, _ in valued)
    top = {value for value, _ in sorted(raw.items(), key=lambda kv: (-kv[1], kv[0]))[:10]}
    groups = defaultdict(list)
    for e, x in valued:
        value = prop_text(props_of(e, breakdown_type), breakdown) or ""
        groups[value if value in top else OTHER].append((e, x))
    lines = [line(value, pairs) for value, pairs in groups.items()]
    lines.sort(key=lambda one: (one["breakdown_value"] == OTHER, -one["property_events_total"], one["breakdown_value"]))
    return lines
