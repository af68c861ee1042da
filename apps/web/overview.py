"""The web overview: who visits the site, from where, on what, and which pages they view.

Every figure counts ``$pageview`` events in the range: *pageviews* are events, *visitors*
are persons (merged ids counted once, :mod:`apps.query.persons`). Each list is one way to
split them (see :data:`apps.web.overview_sql.DIMENSIONS`), and a filter keeps the
pageviews whose value in one list is the given one; several filters combine with AND,
and they narrow every list and the totals alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from apps.query.dates import DateRange, date_range_from_query
from apps.web.overview_sql import DIMENSIONS, DIRECT, filter_sql, overview_sql, session_pages_sql
from apps.web.sessionize import sessionize_params
from pulseboard import clickhouse
from pulseboard.errors import ParamError

LISTS = tuple(DIMENSIONS)
TOP = 10
CSV_ROWS = 10_000
# Lists of sessions: the first and the last page of each visit.
SESSION_LISTS = ("entry_pages", "exit_pages")

# The query parameter that filters by each list, and each list's title on the page.
FILTERS = {
    "page": "pages",
    "referrer": "referrers",
    "utm_source": "utm_sources",
    "utm_medium": "utm_mediums",
    "utm_campaign": "utm_campaigns",
    "browser": "browsers",
    "os": "os",
    "device_type": "devices",
    "country": "countries",
}
FILTER_OF = {name: param for param, name in FILTERS.items()}
TITLES = {
    "pages": "Top pages",
    "entry_pages": "Entry pages",
    "exit_pages": "Exit pages",
    "referrers": "Referrers",
    "utm_sources": "UTM sources",
    "utm_mediums": "UTM mediums",
    "utm_campaigns": "UTM campaigns",
    "browsers": "Browsers",
    "os": "Operating systems",
    "devices": "Devices",
    "countries": "Countries",
}
DEVICE_TYPES = ("Desktop", "Mobile", "Tablet", "Bot", "")
RANGE_PARAMS = frozenset({"range", "date_from", "date_to", "interval", "preset"})
VALUE_MAX = 2048
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class OverviewQuery:
    date_range: DateRange
    # (query parameter, value), in the order of FILTERS.
    filters: tuple[tuple[str, str], ...] = ()


def params_check(params: Mapping[str, str], *, allowed: frozenset[str]) -> None:
    """An unknown parameter is a mistake worth saying (a misspelt filter would otherwise
    show unfiltered figures): a 400 naming it."""
    for name in params:
        if name not in allowed:
            raise ParamError(name, "is not a parameter of the web overview")


def filter_value_check(param: str, value: str) -> str:
    """A filter's value as the lists show it; ``""`` is "Unknown" in the lists that have it."""
    if len(value) > VALUE_MAX or _CONTROL.search(value):
        raise ParamError(param, f"must be at most {VALUE_MAX} characters without control characters")
    if param == "page" and not value.startswith("/"):
        raise ParamError(param, "is a path of the site, starting with /")
    if param == "device_type" and value not in DEVICE_TYPES:
        raise ParamError(param, f"must be one of {', '.join(t for t in DEVICE_TYPES if t)}, or empty for unknown")
    if param == "country" and value and not _COUNTRY.fullmatch(value):
        raise ParamError(param, "is a two-letter country code (ISO 3166-1), e.g. DE, or empty for unknown")
    return value


def overview_query_parse(params, *, tz_name: str, extra: frozenset[str] = frozenset()) -> OverviewQuery:
    """The range and filters of a request (``params``: a QueryDict), or a ParamError.
    ``extra`` names the other parameters the caller reads."""
    params_check(params, allowed=RANGE_PARAMS | frozenset(FILTERS) | extra)
    date_range = date_range_from_query(params=params, tz_name=tz_name)
    filters = []
    for param in FILTERS:
        values = params.getlist(param)
        if len(values) > 1:
            raise ParamError(param, "give it once: a pageview has one value per list")
        if values:
            filters.append((param, filter_value_check(param, values[0])))
    return OverviewQuery(date_range=date_range, filters=tuple(filters))


def _sql_params(project_id: int, query: OverviewQuery, limit: int) -> tuple[str, dict]:
    params = {"project_id": project_id, "date_from": query.date_range.date_from, "date_to": query.date_range.date_to, "limit": limit}
    where = ""
    for i, (param, value) in enumerate(query.filters):
        params[f"f{i}"] = value
        where += filter_sql(FILTERS[param], f"f{i}")
    return where, params


def web_overview(*, project_id: int, query: OverviewQuery) -> dict:
    """Totals and the top :data:`TOP` rows of every pageview list, as the API returns them."""
    where, params = _sql_params(project_id, query, TOP)
    lists: dict[str, list[dict]] = {name: [] for name in LISTS}
    totals = {"visitors": 0, "pageviews": 0}
    for name, value, visitors, pageviews in clickhouse.query(overview_sql(lists=LISTS, where=where, totals=True), params).rows:
        if name:
            lists[name].append({"value": value, "visitors": visitors, "pageviews": pageviews})
        else:
            totals = {"visitors": visitors, "pageviews": pageviews}
    return {
        **_range_json(query.date_range),
        "filters": [{"key": param, "value": value} for param, value in query.filters],
        "totals": totals,
        "lists": lists,
    }


def web_session_pages(*, project_id: int, gap_minutes: int, query: OverviewQuery, limit: int = TOP) -> dict[str, list[dict]]:
    """The top entry and exit pages of the sessions that start in the range (split by the
    project's gap), with their visitors, sessions and pageviews. A query of its own: it
    sessionizes every event of the range, which costs several times the other lists."""
    where, params = _sql_params(project_id, query, limit)
    params.update(sessionize_params(project_id=project_id, date_from=query.date_range.date_from, date_to=query.date_range.date_to, gap_minutes=gap_minutes))
    lists: dict[str, list[dict]] = {name: [] for name in SESSION_LISTS}
    for name, value, visitors, sessions, pageviews in clickhouse.query(session_pages_sql(where), params).rows:
        lists[name].append({"value": value, "visitors": visitors, "sessions": sessions, "pageviews": pageviews})
    return lists


def web_overview_list(*, project_id: int, gap_minutes: int, query: OverviewQuery, name: str) -> list[dict]:
    """Every row of one list (up to :data:`CSV_ROWS`), for the CSV export."""
    if name in SESSION_LISTS:
        return web_session_pages(project_id=project_id, gap_minutes=gap_minutes, query=query, limit=CSV_ROWS)[name]
    where, params = _sql_params(project_id, query, CSV_ROWS)
    rows = clickhouse.query(overview_sql(lists=(name,), where=where, totals=False), params).rows
    return [{"value": value, "visitors": visitors, "pageviews": pageviews} for _, value, visitors, pageviews in rows]


def sessions_flag(value: str | None) -> bool:
    if value in (None, "", "true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ParamError("sessions", "must be true or false")


def list_parse(value: str | None) -> str:
    if value not in LISTS + SESSION_LISTS:
        raise ParamError("list", f"must be one of {', '.join(LISTS + SESSION_LISTS)}")
    return value


def value_label(name: str, value: str) -> str:
    """How a list shows a value: "Direct / none" for :data:`DIRECT`, "Unknown" for ''."""
    if name == "referrers" and value == DIRECT:
        return "Direct / none"
    return value or "Unknown"


def _range_json(date_range: DateRange) -> dict:
    return {
        "timezone": date_range.timezone_name,
        "date_from": date_range.date_from.isoformat(),
        "date_to": date_range.date_to.isoformat(),
    }
