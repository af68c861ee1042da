"""The Events page and its API: every event name of the catalog with its figures, and the
description and visibility the team gives each.

A name's count and unique persons cover the chosen date range and come from the rollups
(``event_counts_15m`` and ``person_event_days``), so the page costs the same whatever the
volume; first and last seen are the catalog's, over all time; the sparkline is always the
last 30 local days, from the counts rollup. Search, the hidden filter, sorting and paging
happen on the catalog's rows in Python: a project has hundreds of names, not millions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from apps.analytics import selectors, sql
from apps.analytics.params import int_param
from apps.ingest.models import EVENT_DESCRIPTION_MAX, EventDefinition
from apps.query.dates import DateRange, date_range_from_query, date_range_resolve
from pulseboard import clickhouse
from pulseboard.errors import NotFound, ParamError, text_clean

SORTS = ("name", "count", "unique_persons", "first_seen", "last_seen")
DEFAULT_SORT = "-count"
HIDDEN_FILTERS = ("include", "exclude", "only")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
SPARK_DAYS = 30
# Names counted per request: far more than a project sends (pickers offer 500).
MAX_NAMES = 10_000
API_PARAMS = frozenset({"range", "date_from", "date_to", "search", "sort", "hidden", "page", "page_size"})
# The page's date controls also send the preset they show.
PAGE_PARAMS = API_PARAMS | {"preset"}


@dataclass(frozen=True)
class EventsQuery:
    date_range: DateRange
    search: str = ""
    sort: str = "count"
    descending: bool = True
    hidden: str = "include"
    page: int = 1
    page_size: int = PAGE_SIZE

    @property
    def sort_param(self) -> str:
        return f"-{self.sort}" if self.descending else self.sort


def events_query_parse(params, *, tz_name: str, allowed: frozenset[str] = API_PARAMS) -> EventsQuery:
    """The query of the Events page or API; an unknown parameter is refused by name, so a
    typo never silently shows the default."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ParamError(unknown[0], f"unknown parameter (use {', '.join(sorted(allowed))})")
    sort = params.get("sort") or DEFAULT_SORT
    if sort.lstrip("-") not in SORTS:
        raise ParamError("sort", f"must be one of {', '.join(SORTS)}, with a leading - for descending")
    hidden = params.get("hidden") or "include"
    if hidden not in HIDDEN_FILTERS:
        raise ParamError("hidden", f"must be one of {', '.join(HIDDEN_FILTERS)}")
    return EventsQuery(
        date_range=date_range_from_query(params=params, tz_name=tz_name),
        search=(params.get("search") or "").strip(),
        sort=sort.lstrip("-"),
        descending=sort.startswith("-"),
        hidden=hidden,
        page=int_param(params.get("page"), field="page", default=1, low=1, high=1_000_000),
        page_size=int_param(params.get("page_size"), field="page_size", default=PAGE_SIZE, low=1, high=MAX_PAGE_SIZE),
    )


@dataclass(frozen=True)
class EventsTable:
    rows: list[dict]
    total: int  # rows matching the search and hidden filter, over all pages
    query: EventsQuery
    spark_days: list[date]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.page_size))


def _definitions(*, project_id: int, query: EventsQuery):
    definitions = EventDefinition.objects.filter(project_id=project_id)
    if query.search:
        definitions = definitions.filter(name__icontains=query.search)
    if query.hidden != "include":
        definitions = definitions.filter(hidden=query.hidden == "only")
    return definitions.values("id", "name", "description", "hidden", "first_seen", "last_seen")


def _sorted(rows: list[dict], query: EventsQuery) -> list[dict]:
    """Sorted by the chosen column; ties by name, A to Z, either way."""
    rows = sorted(rows, key=lambda row: row["name"], reverse=query.sort == "name" and query.descending)
    if query.sort != "name":
        rows.sort(key=lambda row: row[query.sort], reverse=query.descending)
    return rows


def spark_range(tz_name: str) -> DateRange:
    """The last 30 local days, today included."""
    return date_range_resolve(params={"range": f"{SPARK_DAYS}d"}, tz_name=tz_name)


def event_daily_counts(*, project_id: int, date_range: DateRange, names: list[str]) -> dict[str, list[int]]:
    """Events per local day of ``date_range`` for each of ``names``, oldest first."""
    if not names:
        return {}
    params = {"project_id": project_id, "date_from": date_range.date_from, "date_to": date_range.date_to, "tz": date_range.timezone_name, "events": names}
    by_day: dict[str, dict[int, int]] = {name: {} for name in names}
    for bucket, event, value in clickhouse.query(sql.event_counts("day", names=True), params).rows:
        by_day[event][bucket] = int(value)
    epochs = date_range.bucket_epochs()
    return {name: [days.get(epoch, 0) for epoch in epochs] for name, days in by_day.items()}


def _persons_of(rows: list[dict], *, project_id: int, date_range: DateRange) -> None:
    """Fill in the unique persons of ``rows``: one query, over the names with events only."""
    names = [row["name"] for row in rows if row["count"]]
    persons = selectors.persons_by_event(project_id=project_id, date_range=date_range, events=names)
    for row in rows:
        row["unique_persons"] = persons.get(row["name"], 0)


def event_definitions_table(*, project_id: int, query: EventsQuery, paginate: bool = True) -> EventsTable:
    """The catalog's rows that match ``query``, with their figures, sorted, one page of them
    (or all, for the CSV). Three queries at most, none of them on raw events.

    Persons are the costly figure (distinct persons per name, from ``person_event_days``),
    so they are counted for the rows shown only, unless the rows are sorted by them: a
    search or a later page reads the rollup rows of its few names, not of every name."""
    rows = list(_definitions(project_id=project_id, query=query))
    counts = dict(selectors.event_counts_in_range(project_id=project_id, date_range=query.date_range, limit=MAX_NAMES)) if rows else {}
    for row in rows:
        row["count"] = counts.get(row["name"], 0)
    by_persons = query.sort == "unique_persons"
    if by_persons:
        _persons_of(rows, project_id=project_id, date_range=query.date_range)
    total = len(rows)
    rows = _sorted(rows, query)
    if paginate:
        start = (query.page - 1) * query.page_size
        rows = rows[start : start + query.page_size]
    if not by_persons:
        _persons_of(rows, project_id=project_id, date_range=query.date_range)
    spark = spark_range(query.date_range.timezone_name)
    sparklines = event_daily_counts(project_id=project_id, date_range=spark, names=[row["name"] for row in rows])
    for row in rows:
        row["sparkline"] = sparklines[row["name"]]
    return EventsTable(rows=rows, total=total, query=query, spark_days=spark.days())


# --- Describing and hiding a name ------------------------------------------------------------


def event_definition_get(*, project_id: int, definition_id: int) -> EventDefinition:
    definition = EventDefinition.objects.filter(project_id=project_id, id=definition_id).first()
    if definition is None:
        raise NotFound("No such event definition.")
    return definition


def event_description_clean(value) -> str:
    return text_clean(value, field="description", limit=EVENT_DESCRIPTION_MAX)


def event_definition_update(*, definition: EventDefinition, description: str | None = None, hidden: bool | None = None) -> EventDefinition:
    """Change what is given (a description already cleaned by :func:`event_description_clean`)."""
    given = {"description": description, "hidden": hidden}
    changed = [name for name, value in given.items() if value is not None]
    for name in changed:
        setattr(definition, name, given[name])
    if changed:
        definition.save(update_fields=changed)
    return definition


def row_json(row: dict, spark_days: list[date]) -> dict:
    """One row as the API answers it."""
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "hidden": row["hidden"],
        "count": row["count"],
        "unique_persons": row["unique_persons"],
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "sparkline": {"dates": [day.isoformat() for day in spark_days], "counts": row["sparkline"]},
    }
