"""The insight registry: every kind of insight that can be saved, and how to show one.

A saved insight (:class:`apps.dashboards.models.SavedInsight`) is a ``kind`` and a
``query``: its page's own GET parameters, ``{name: [values]}``. The kind's
:class:`InsightType` knows

- its page (``url_name``): opening a saved insight is that page with the query
  (:func:`insight_url`);
- its ``tile``: the insight drawn compactly inside a dashboard tile (a partial of
  ``templates/dashboards/tiles/`` and its context);
- its ``csv``: the insight's table, a header and rows (CSV exports and the JSON results).

Both run the very functions the pages run (``apps.analytics.insights`` and
``apps.funnels.insights``), so a tile shows the page's numbers. A saved query that no longer
validates (an event renamed, a funnel deleted, a range edited by hand) raises
:class:`ParamError` from ``tile``/``csv``; :func:`tile_content` turns that into an error tile
that names the problem and never raises.

Funnels are saved by reference: the query of a ``funnel`` insight holds ``funnel_id`` (a
saved :class:`apps.funnels.models.Funnel`) plus the funnel page's own parameters (range,
breakdown). Its ``url_name`` is a small redirect (``insights-funnel``) to the funnel's page,
so the one opening rule holds for every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.urls import reverse

from apps.analytics import insights as analytics
from apps.analytics.retention import retention_query_parse
from apps.funnels import insights as funnels
from apps.projects.models import Project
from apps.query.dates import date_range_from_query
from apps.web import paths, sessions
from pulseboard.errors import NotFound, ParamError

# The parameters that say which dates an insight covers; a dashboard's range replaces them
# all. ``preset`` is what the date controls send (it wins over ``range`` on the pages).
RANGE_KEYS = ("range", "date_from", "date_to", "interval", "preset")
# Parameters of a page's address that are not part of the insight's query (``insight`` is
# the saved insight being looked at; ``cursor``-like state is not saved).
NOT_QUERY_KEYS = ("insight", "csrfmiddlewaretoken")
TILE_TABLE_MAX_ROWS = 4  # a tile shows a table under its chart only when it is this short


@dataclass(frozen=True)
class TileContent:
    template: str  # a partial that renders the insight compactly inside a tile (chart and, if short, a small table)
    context: dict  # its context; includes the "chart_id" the caller passed (unique on the page)


@dataclass(frozen=True)
class InsightType:
    kind: str  # stored in SavedInsight.kind: "trends", "active_users", "funnel", "retention", "stickiness", "lifecycle"
    label: str  # "Trends"
    url_name: str  # the insight's page; opening a saved insight = reverse(url_name, project_id) + "?" + urlencode(query, doseq=True)
    tile: Callable[[Project, QueryDict, str], TileContent]  # (project, params, chart_id) -> content; ParamError when the query no longer validates
    csv: Callable[[Project, QueryDict], tuple[list[str], list[list]]]  # header and rows of the insight's table
    icon: str = "trends"  # a key of templates/partials/icon.html
    # Raises ParamError when ``params`` cannot be used, without counting anything (cheap).
    # None: the type has no cheaper check than running its tile.
    parse: Callable[[Project, QueryDict], object] | None = None

    def url(self, project_id: int, query: Mapping | None = None) -> str:
        base = reverse(self.url_name, kwargs={"project_id": project_id})
        query = {k: v for k, v in (query or {}).items() if v not in (None, "", [])}
        return base + ("?" + urlencode(query, doseq=True) if query else "")

    def validate(self, project: Project, params: QueryDict) -> None:
        """Raise ParamError (naming the bad parameter) if ``params`` do not make this insight."""
        if self.parse is not None:
            self.parse(project, params)
        else:
            self.csv(project, params)


REGISTRY: dict[str, InsightType] = {}


def register(insight_type: InsightType) -> None:
    REGISTRY[insight_type.kind] = insight_type


def insight_type(kind: str) -> InsightType:
    """The registered type of ``kind``; :class:`NotFound` for any other."""
    try:
        return REGISTRY[kind]
    except (KeyError, TypeError):
        raise NotFound(f"No insight type {kind!r}.") from None


def kind_choices() -> list[tuple[str, str]]:
    return [(t.kind, t.label) for t in REGISTRY.values()]


def _values(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def query_clean(query) -> dict[str, list[str]]:
    """A query as it is saved: ``{name: [values]}`` of strings, from a QueryDict, a dict of
    lists or a dict of single values; names without values and the page-only keys dropped."""
    if isinstance(query, QueryDict):
        items = query.lists()
    elif isinstance(query, Mapping):
        items = query.items()
    else:
        raise ParamError("query", "must be an object of parameter names to lists of values")
    cleaned: dict[str, list[str]] = {}
    for name, value in items:
        if not isinstance(name, str) or name in NOT_QUERY_KEYS:
            continue
        if isinstance(value, (dict, set)):
            raise ParamError("query", f"{name}: must be a string or a list of strings")
        # Empty values stay: the page forms pair repeated fields by position (event/math,
        # fkey/fop/fvalue), so dropping one would shift the others.
        values = _values(value)
        if values:
            cleaned[name] = values
    return cleaned


def query_dict(query: dict, override: dict | None = None) -> QueryDict:
    """A saved ``{name: [values]}`` as the QueryDict a page reads. A dashboard's range
    (``override``, e.g. ``{"range": ["7d"]}``), when it has any value, replaces every
    range key of the query (range, date_from, date_to, interval, preset)."""
    params = QueryDict(mutable=True)
    for name, values in (query or {}).items():
        params.setlist(name, _values(values))
    override = {k: _values(v) for k, v in (override or {}).items() if _values(v)}
    if override:
        for name in RANGE_KEYS:
            params.pop(name, None)
        for name, values in override.items():
            params.setlist(name, values)
    params._mutable = False
    return params


def insight_url(insight, *, project_id: int | None = None) -> str:
    """The page of a saved insight, with its query and ``insight=<id>`` (the page then shows
    which saved insight it is and offers to update it)."""
    query = {**(insight.query or {}), "insight": [str(insight.pk)]}
    return insight_type(insight.kind).url(project_id or insight.project_id, query)


def tile_error(message: str, *, field: str | None = None, chart_id: str = "") -> TileContent:
    return TileContent("dashboards/tiles/error.html", {"chart_id": chart_id, "field": field, "message": message})


# What a chart spec carries of the project's annotations (apps.analytics.annotations.chart_annotate).
CHART_NOTE_KEYS = ("annotations", "annotate")


def _without_notes(content: TileContent) -> TileContent:
    """The tile for a shared page: its charts without the project's notes and their authors
    (``annotations``) nor the way to add one (``annotate``)."""
    context = {
        name: {key: item for key, item in value.items() if key not in CHART_NOTE_KEYS} if isinstance(value, dict) else value
        for name, value in content.context.items()
    }
    return TileContent(content.template, context)


def tile_content(project, insight, *, chart_id: str, override: dict | None = None, public: bool = False) -> TileContent:
    """The tile of a saved insight (with a dashboard's range ``override``; ``public``: for a
    shared link, without annotations). A query that no longer validates, or an unknown kind,
    gives an error tile naming the problem: never raises."""
    try:
        kind = insight_type(insight.kind)
    except NotFound:
        return tile_error(f"This insight's type “{insight.kind}” is not known to this version of PulseBoard.", field="kind", chart_id=chart_id)
    try:
        content = kind.tile(project, query_dict(insight.query, override), chart_id)
        return _without_notes(content) if public else content
    except ParamError as error:
        return tile_error(f"The saved query no longer works: {error.field}: {error.message}.", field=error.field, chart_id=chart_id)
    except ValidationError as error:
        return tile_error(f"The saved query no longer works: {'; '.join(error.messages)}.", chart_id=chart_id)


def insight_table(project, insight, *, override: dict | None = None) -> tuple[list[str], list[list]]:
    """The header and rows of a saved insight's table; ParamError when its query no longer works."""
    return insight_type(insight.kind).csv(project, query_dict(insight.query, override))


# --- The types --------------------------------------------------------------------------------


def _short(rows: list) -> bool:
    return len(rows) <= TILE_TABLE_MAX_ROWS


def _trends_tile(project, params, chart_id: str) -> TileContent:
    result = analytics.trends_insight(project, params)
    # Each series' total under the chart, when there are few series (a breakdown has up to 11).
    context = {**result, "chart_id": chart_id, "show_totals": _short(result["data"]["series"])}
    return TileContent("dashboards/tiles/trends.html", context)


def _trends_parse(project, params):
    return analytics.trend_query_parse(project, params)


def _trends_csv(project, params):
    return analytics.trends_table(analytics.trends_insight(project, params))


def _active_users_tile(project, params, chart_id: str) -> TileContent:
    result = analytics.active_users_insight(project, params)
    active = result["active"]
    latest = None
    if active["buckets"]:
        # The last day's figures; "so far" while that day is not over (its bucket is partial).
        so_far = result["chart"].get("partial_from") == len(active["buckets"]) - 1
        latest = {"dau": active["dau"][-1], "wau": active["wau"][-1], "mau": active["mau"][-1], "so_far": so_far}
    return TileContent("dashboards/tiles/active_users.html", {**result, "chart_id": chart_id, "latest": latest})


def _active_users_csv(project, params):
    return analytics.active_users_table(analytics.active_users_insight(project, params))


def _retention_tile(project, params, chart_id: str) -> TileContent:
    result = analytics.retention_insight(project, params)
    return TileContent("dashboards/tiles/retention.html", {**result, "chart_id": chart_id, "short": _short(result["rows"])})


def _retention_parse(project, params):
    return retention_query_parse(analytics.retention_params(project, params), tz_name=project.timezone)


def _retention_csv(project, params):
    return analytics.retention_table(analytics.retention_insight(project, params))


def _stickiness_tile(project, params, chart_id: str) -> TileContent:
    result = analytics.stickiness_insight(project, params)
    return TileContent("dashboards/tiles/stickiness.html", {**result, "chart_id": chart_id})


def _stickiness_csv(project, params):
    return analytics.stickiness_table(analytics.stickiness_insight(project, params))


def _lifecycle_tile(project, params, chart_id: str) -> TileContent:
    result = analytics.lifecycle_insight(project, params)
    totals = {kind: sum(result["data"][kind]) for kind in result["kinds"]}
    return TileContent("dashboards/tiles/lifecycle.html", {**result, "chart_id": chart_id, "totals": totals})


def _lifecycle_csv(project, params):
    return analytics.lifecycle_table(analytics.lifecycle_insight(project, params))


def _funnel_tile(project, params, chart_id: str) -> TileContent:
    result = funnels.funnel_insight(project, params, chart_id=chart_id)
    return TileContent("dashboards/tiles/funnel.html", {**result, "chart_id": chart_id})


def _funnel_parse(project, params):
    funnels.funnel_of_params(project=project, params=params)
    return date_range_from_query(params=params, tz_name=project.timezone)


def _funnel_csv(project, params):
    return funnels.funnel_table(funnels.funnel_insight(project, params))


def _sessions_tile(project, params, chart_id: str) -> TileContent:
    result = sessions.sessions_page_insight(project, params)
    return TileContent("dashboards/tiles/sessions.html", {**result, "chart_id": chart_id})


def _sessions_csv(project, params):
    return sessions.sessions_table(sessions.sessions_page_insight(project, params))


def _paths_tile(project, params, chart_id: str) -> TileContent:
    result = paths.paths_page_insight(project, params)
    return TileContent("web/partials/paths_tile.html", {**result, "chart_id": chart_id})


def _paths_csv(project, params):
    return paths.paths_table(paths.paths_page_insight(project, params))


def _range_parse(project, params):
    return analytics.page_range(project, params)


for _type in (
    InsightType("trends", "Trends", "analytics-trends", _trends_tile, _trends_csv, icon="trends", parse=_trends_parse),
    InsightType(
        "active_users", "Active users", "analytics-overview", _active_users_tile, _active_users_csv, icon="overview", parse=_range_parse
    ),
    InsightType("funnel", "Funnel", "insights-funnel", _funnel_tile, _funnel_csv, icon="funnels", parse=_funnel_parse),
    InsightType(
        "retention", "Retention", "analytics-retention", _retention_tile, _retention_csv, icon="retention", parse=_retention_parse
    ),
    InsightType(
        "stickiness", "Stickiness", "analytics-stickiness", _stickiness_tile, _stickiness_csv, icon="stickiness",
        parse=lambda project, params: analytics.stickiness_query(project, params),
    ),
    InsightType(
        "lifecycle", "Lifecycle", "analytics-lifecycle", _lifecycle_tile, _lifecycle_csv, icon="lifecycle",
        parse=lambda project, params: analytics.lifecycle_query(project, params),
    ),
    InsightType(
        "sessions", "Sessions", "web-sessions", _sessions_tile, _sessions_csv, icon="sessions",
        parse=lambda project, params: sessions.sessions_query_parse(params, project=project, allowed=sessions.PAGE_PARAMS),
    ),
    InsightType(
        "paths", "Paths", "web-paths", _paths_tile, _paths_csv, icon="paths",
        parse=lambda project, params: paths.paths_query_parse(params, project=project, allowed=paths.PAGE_PARAMS),
    ),
):
    register(_type)
