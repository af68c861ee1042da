"""The sessions insight: how many visits, how long, how many bounce, where they begin and end.

Sessions are defined once, in :mod:`apps.web.sessionize`. A session counts in the range,
and in the bucket, of its first event. The figures:

* ``sessions``: their number;
* ``mean_duration``, ``median_duration``: seconds from a session's first event to its
  last (0 for a session of one event);
* ``bounce_rate``: the percentage of sessions whose only event is a single ``$pageview``
  or ``$screen``;
* ``pageviews_per_session``: ``$pageview`` events per session;
* ``entry_pages`` / ``exit_pages``: the ``page_url`` of the first / last ``$pageview`` of
  each session, with the number of sessions (sessions without a pageview have neither).

Each figure is a card (this period, the one of the same length before it, the change) and
a series over the range's buckets.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.query.cards import period_card
from apps.query.charts import time_charts_finish
from apps.query.dates import DateRange, axis, date_range_from_query
from apps.query.filters import PropertyFilter, property_filters_parse
from apps.query.params import params_check
from apps.query.sql import property_filters
from apps.web import sessions_sql as sql
from apps.web.sessionize import GAP_MAX, GAP_MIN, sessionize_params, stored_sessions_serve
from pulseboard import clickhouse
from pulseboard.errors import ParamError

TOP_PAGES = 10
METRICS = ("sessions", "mean_duration", "median_duration", "bounce_rate", "pageviews_per_session")
LABELS = {
    "sessions": "Sessions",
    "mean_duration": "Mean duration",
    "median_duration": "Median duration",
    "bounce_rate": "Bounce rate",
    "pageviews_per_session": "Pageviews per session",
}
# Figures that get better as they fall: their change badge is green when they do.
LOWER_IS_BETTER = frozenset({"bounce_rate"})
# How each figure reads (the ``figure`` template filter); the others are counts.
UNITS = {"mean_duration": "duration", "median_duration": "duration", "bounce_rate": "percent", "pageviews_per_session": "ratio"}
API_PARAMS = frozenset({"range", "date_from", "date_to", "interval", "gap", "filters"})
# The page's address also carries the preset its date controls show, and the saved insight.
PAGE_PARAMS = API_PARAMS | {"preset", "insight"}


@dataclass(frozen=True)
class SessionsQuery:
    date_range: DateRange
    gap_minutes: int
    filters: tuple[PropertyFilter, ...] = ()


def gap_parse(value: str | None, *, default: int) -> int:
    """``gap``: minutes without events after which an event starts a new session (for
    events without a session id); the project's setting when absent."""
    if value is None or value == "":
        return default
    try:
        minutes = int(value)
    except ValueError:
        raise ParamError("gap", f"{value!r} is not a whole number of minutes") from None
    if not GAP_MIN <= minutes <= GAP_MAX:
        raise ParamError("gap", f"must be between {GAP_MIN} and {GAP_MAX} minutes")
    return minutes


def sessions_query_parse(params, *, project, allowed: frozenset[str] = API_PARAMS) -> SessionsQuery:
    """The query of the sessions API or page (``params``: a QueryDict); a ParamError names
    the parameter at fault, an unknown one included."""
    params_check(params, allowed=allowed)
    return SessionsQuery(
        date_range=date_range_from_query(params=params, tz_name=project.timezone),
        gap_minutes=gap_parse(params.get("gap"), default=project.session_gap_minutes),
        filters=tuple(property_filters_parse(params.get("filters"))),
    )


def _figures(sessions: int, duration_sum: float, median: float, bounces: int, pageviews: int) -> dict:
    if not sessions:
        return dict.fromkeys(METRICS, 0)
    return {
        "sessions": sessions,
        "mean_duration": round(duration_sum / sessions, 3),
        "median_duration": round(median, 3),
        "bounce_rate": round(bounces / sessions * 100, 2),
        "pageviews_per_session": round(pageviews / sessions, 2),
    }


def _top(counts: dict[str, int]) -> list[dict]:
    ranked = sorted(((page, n) for page, n in counts.items() if page), key=lambda item: (-item[1], item[0]))
    return [{"page_url": page, "sessions": n} for page, n in ranked[:TOP_PAGES]]


def _contenders(counts: dict[int, int]) -> list[int]:
    """The pages (hashes) that can make :func:`_top`: those with at least the count of the
    last place, ties included, since ties are ranked by page_url."""
    counts = {page: n for page, n in counts.items() if page}
    if not counts:
        return []
    floor = sorted(counts.values(), reverse=True)[:TOP_PAGES][-1]
    return [page for page, n in counts.items() if n >= floor]


def _tops_hashed(entries: dict[int, int], exits: dict[int, int], params: dict) -> tuple[list[dict], list[dict]]:
    """:func:`_top` of the entry and exit pages of stored sessions, counted by the hash of
    their page_url: one look-up names the hashes that can make either top."""
    wanted = sorted({*_contenders(entries), *_contenders(exits)})
    urls = dict(clickhouse.query(sql.PAGE_URLS, {**params, "hashes": wanted, "n": len(wanted)}).rows) if wanted else {}
    return tuple(_top({urls[page]: n for page, n in counts.items() if page in urls}) for counts in (entries, exits))


def sessions_insight(*, project_id: int, query: SessionsQuery) -> dict:
    """Cards, series per bucket and the top entry and exit pages, from one query over the
    sessions of the range and of the period before it. Without filters, over whole quarter
    hours (every preset range), the sessions with an id come from their stored numbers
    (:func:`apps.web.sessionize.stored_sessions`): the same figures in less than half the
    time on 10M events."""
    date_range = query.date_range
    previous = date_range.previous()
    params = sessionize_params(project_id=project_id, date_from=previous.date_from, date_to=date_range.date_to, gap_minutes=query.gap_minutes)
    params.update(current_from=date_range.date_from, tz=date_range.timezone_name)
    filters_sql = property_filters(list(query.filters), params)
    stored = not query.filters and stored_sessions_serve(params, "current_from")
    totals = {True: _figures(0, 0, 0, 0, 0), False: _figures(0, 0, 0, 0, 0)}
    per_bucket, entries, exits = {}, {}, {}
    for current, bucket, entry, exit_page, level, *figures in clickhouse.query(sql.sessions_insight(date_range.interval, filters_sql, stored=stored), params).rows:
        if level == sql.TOTAL:
            totals[bool(current)] = _figures(*figures)
        elif not current:
            continue
        elif level == sql.BY_BUCKET:
            per_bucket[bucket] = _figures(*figures)
        elif level == sql.BY_ENTRY:
            entries[entry] = figures[0]
        else:
            exits[exit_page] = figures[0]
    entry_pages, exit_pages = _tops_hashed(entries, exits, params) if stored else (_top(entries), _top(exits))
    empty = _figures(0, 0, 0, 0, 0)
    buckets = [per_bucket.get(epoch, empty) for epoch in date_range.bucket_epochs()]
    return {
        **axis(date_range),
        "gap_minutes": query.gap_minutes,
        "cards": {metric: period_card(totals[True][metric], totals[False][metric]) for metric in METRICS},
        "series": {metric: [figures[metric] for figures in buckets] for metric in METRICS},
        "entry_pages": entry_pages,
        "exit_pages": exit_pages,
    }


# --- The page, a dashboard tile and the CSV ----------------------------------------------------

TABLES = ("buckets", "entry_pages", "exit_pages")


def sessions_page_insight(project, params, *, allowed: frozenset[str] = PAGE_PARAMS) -> dict:
    """The Sessions page's figures and charts for its address (``params``), as the page,
    a saved insight's tile and the CSV show them."""
    query = sessions_query_parse(params, project=project, allowed=allowed)
    data = sessions_insight(project_id=project.id, query=query)
    series = data["series"]
    sessions_chart = {"type": "bar", "labels": data["buckets"], "datasets": [{"label": "Sessions", "data": series["sessions"]}]}
    duration_chart = {
        "type": "line",
        "labels": data["buckets"],
        "datasets": [
            {"label": "Median duration (s)", "data": series["median_duration"]},
            {"label": "Mean duration (s)", "data": series["mean_duration"]},
        ],
    }
    time_charts_finish([sessions_chart, duration_chart], project=project, date_range=query.date_range)
    return {
        "query": query,
        "data": data,
        # (label, card, metric, unit, which way is better: a falling bounce rate is good news)
        "cards": [
            (LABELS[metric], data["cards"][metric], metric, UNITS.get(metric, ""), "lower" if metric in LOWER_IS_BETTER else "higher")
            for metric in METRICS
        ],
        "sessions_chart": sessions_chart,
        "duration_chart": duration_chart,
        "has_data": bool(data["cards"]["sessions"]["value"] or data["cards"]["sessions"]["previous"]),
    }


def sessions_table(result: dict, table: str = "buckets") -> tuple[list[str], list[list]]:
    """One of the page's tables as a header and rows: the figures per bucket, or the entry
    or exit pages."""
    data = result["data"]
    if table == "buckets":
        return ["bucket", *METRICS], [[label, *values] for label, *values in zip(data["buckets"], *(data["series"][m] for m in METRICS))]
    return ["page_url", "sessions"], [[row["page_url"], row["sessions"]] for row in data[table]]


def table_parse(value: str | None) -> str:
    if value in (None, ""):
        return "buckets"
    if value not in TABLES:
        raise ParamError("table", f"must be one of {', '.join(TABLES)}")
    return value
