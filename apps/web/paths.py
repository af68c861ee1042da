"""Paths: the most common ways through a session, step by step.

Sessions are defined once, in :mod:`apps.web.sessionize`; a session counts when its first
event is in the range, and a path never goes from one session into the next. Each
session's events, in order, make its nodes:

* ``path_type=pages`` (default): its ``$pageview`` events, each the path of its
  ``page_url`` without query string, fragment or trailing slash (``/pricing/?a=1`` is
  ``/pricing``; the home page is ``/``; see :data:`apps.web.paths_sql.PAGE_NODE`);
* ``path_type=events``: its events by name, all but those that record who someone is
  rather than what they did (:data:`apps.web.paths_sql.NOT_ACTIONS`).

The same node twice in a row is one node (a reload, a double click), as in PostHog. Then:

* no anchor: the path is the session's first ``depth + 1`` nodes;
* ``start``: from the session's first occurrence of that node, ``depth`` steps on;
* ``end``: the ``depth`` nodes before the session's first occurrence of that node, and
  that node, drawn so that it is the last column;
* both: from the first ``start`` to the first ``end`` after it, for the sessions in which
  it comes at most ``depth`` steps on.

Sessions without the anchor are not counted. Step ``n`` of an edge goes from the node in
column ``n`` to the node in column ``n + 1``; each step shows its top :data:`TOP_EDGES`
edges by sessions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from apps.query.dates import DateRange, date_range_from_query
from apps.query.filters import PropertyFilter, property_filters_parse
from apps.query.params import params_check
from apps.query.sql import property_filters
from apps.web.paths_sql import paths_sql
from apps.web.sessionize import sessionize_params
from apps.web.sessions import gap_parse
from pulseboard import clickhouse
from pulseboard.errors import ParamError

PATH_TYPES = ("pages", "events")
DEPTH_MIN, DEPTH_MAX, DEPTH_DEFAULT = 1, 5, 3
TOP_EDGES = 20
POINT_MAX = 2048
API_PARAMS = frozenset({"range", "date_from", "date_to", "interval", "path_type", "start", "end", "depth", "gap", "filters"})
# The page's address also carries the preset its date controls show, and the saved insight.
PAGE_PARAMS = API_PARAMS | {"preset", "insight"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class PathsQuery:
    date_range: DateRange
    path_type: str
    start: str
    end: str
    depth: int
    gap_minutes: int
    filters: tuple[PropertyFilter, ...] = ()

    @property
    def anchor(self) -> str | None:
        if self.start and self.end:
            return "both"
        return "start" if self.start else "end" if self.end else None


def page_node(value: str) -> str:
    """A page as paths name it: the path of a URL, without query string, fragment or
    trailing slash ("/" for the home page)."""
    return urlsplit(value).path.rstrip("/") or "/"


def point_parse(name: str, value: str | None, path_type: str) -> str:
    """``start`` or ``end``: a page (a path starting with /, or a URL) or an event name; ''
    when absent."""
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) > POINT_MAX or _CONTROL.search(value):
        raise ParamError(name, f"must be at most {POINT_MAX} characters without control characters")
    if path_type == "events":
        return value
    try:
        if value.startswith("/") or urlsplit(value).scheme:
            return page_node(value)
    except ValueError:  # not a URL at all, e.g. "http://["
        pass
    raise ParamError(name, "is a page: a path starting with /, e.g. /pricing")


def depth_parse(value: str | None) -> int:
    if value is None or value == "":
        return DEPTH_DEFAULT
    try:
        depth = int(value)
    except ValueError:
        raise ParamError("depth", f"{value!r} is not a whole number of steps") from None
    if not DEPTH_MIN <= depth <= DEPTH_MAX:
        raise ParamError("depth", f"must be between {DEPTH_MIN} and {DEPTH_MAX} steps")
    return depth


def path_type_parse(value: str | None) -> str:
    if value in (None, ""):
        return PATH_TYPES[0]
    if value not in PATH_TYPES:
        raise ParamError("path_type", f"must be one of {', '.join(PATH_TYPES)}")
    return value


def paths_query_parse(params, *, project, allowed: frozenset[str] = API_PARAMS) -> PathsQuery:
    """The query of the paths API or page (``params``: a QueryDict); a ParamError names the
    parameter at fault, an unknown one included."""
    params_check(params, allowed=allowed)
    path_type = path_type_parse(params.get("path_type"))
    return PathsQuery(
        date_range=date_range_from_query(params=params, tz_name=project.timezone),
        path_type=path_type,
        start=point_parse("start", params.get("start"), path_type),
        end=point_parse("end", params.get("end"), path_type),
        depth=depth_parse(params.get("depth")),
        gap_minutes=gap_parse(params.get("gap"), default=project.session_gap_minutes),
        filters=tuple(property_filters_parse(params.get("filters"))),
    )


def paths_insight(*, project_id: int, query: PathsQuery) -> dict:
    """The columns, edges and nodes of the paths of a range's sessions, as the API returns
    them."""
    date_range = query.date_range
    params = sessionize_params(project_id=project_id, date_from=date_range.date_from, date_to=date_range.date_to, gap_minutes=query.gap_minutes)
    params.update(start=query.start, end=query.end, depth=query.depth, edges=TOP_EDGES)
    filters_sql = property_filters(list(query.filters), params)
    rows = clickhouse.query(paths_sql(path_type=query.path_type, anchor=query.anchor, filters_sql=filters_sql), params).rows
    columns = range(1, query.depth + 2)
    per_step = dict.fromkeys(columns, 0)
    edges, nodes = [], {}
    for step, source, target, sessions, source_sessions, target_sessions, step_sessions in rows:
        per_step[step] = step_sessions
        if target is None:
            continue
        edges.append({"step": step, "source": source, "target": target, "sessions": sessions})
        nodes[(step, source)] = source_sessions
        nodes[(step + 1, target)] = target_sessions
    anchor_column = columns[-1] if query.anchor == "end" else columns[0]
    return {
        "timezone": date_range.timezone_name,
        "date_from": date_range.date_from.isoformat(),
        "date_to": date_range.date_to.isoformat(),
        "path_type": query.path_type,
        "start": query.start or None,
        "end": query.end or None,
        "depth": query.depth,
        "gap_minutes": query.gap_minutes,
        "totals": {"sessions": per_step[anchor_column]},
        "steps": [{"step": step, "sessions": per_step[step]} for step in columns],
        "nodes": [
            {"step": step, "name": name, "sessions": n}
            for (step, name), n in sorted(nodes.items(), key=lambda item: (item[0][0], -item[1], item[0][1]))
        ],
        "edges": edges,
    }


# --- The page, a dashboard tile and the CSV ----------------------------------------------------

TILE_NODES = 4  # nodes per column in a dashboard tile
CSV_HEADER = ["step", "source", "target", "sessions", "share_of_source"]


def _node_key(step: int, name: str) -> str:
    return f"{step}\u2009{name}"


def sankey_spec(data: dict) -> dict:
    """What ``static/js/paths.js`` draws: the edges as flows between nodes keyed by column
    and name, each node labelled by its name and placed in its column."""
    flows = [{"from": _node_key(e["step"], e["source"]), "to": _node_key(e["step"] + 1, e["target"]), "flow": e["sessions"]} for e in data["edges"]]
    nodes = data["nodes"]
    return {
        "flows": flows,
        "labels": {_node_key(n["step"], n["name"]): n["name"] for n in nodes},
        "columns": {_node_key(n["step"], n["name"]): n["step"] - 1 for n in nodes},
        "sessions": {_node_key(n["step"], n["name"]): n["sessions"] for n in nodes},
    }


def edge_rows(data: dict) -> list[dict]:
    """The edges with the share of their source node's sessions that took them (percent)."""
    at = {(n["step"], n["name"]): n["sessions"] for n in data["nodes"]}
    return [{**e, "share": round(e["sessions"] / at[(e["step"], e["source"])] * 100, 1)} for e in data["edges"]]


def step_columns(data: dict, limit: int = TILE_NODES) -> list[dict]:
    """Per column, its sessions and its busiest nodes (each with its width in percent of
    the column), for the compact view of a tile."""
    columns = []
    for step in data["steps"]:
        nodes = [n for n in data["nodes"] if n["step"] == step["step"]][:limit]
        total = step["sessions"] or 1
        columns.append({**step, "nodes": [{**n, "share": round(n["sessions"] / total * 100, 1)} for n in nodes]})
    return columns


def paths_page_insight(project, params, *, allowed: frozenset[str] = PAGE_PARAMS) -> dict:
    """The Paths page's figures for its address (``params``), as the page, a saved
    insight's tile and the CSV show them."""
    query = paths_query_parse(params, project=project, allowed=allowed)
    data = paths_insight(project_id=project.id, query=query)
    return {
        "query": query,
        "data": data,
        "sankey": sankey_spec(data),
        "edges": edge_rows(data),
        "columns": step_columns(data),
        "has_data": bool(data["edges"]),
    }


def paths_table(result: dict) -> tuple[list[str], list[list]]:
    """The page's table of edges as a header and rows."""
    return CSV_HEADER, [[e["step"], e["source"], e["target"], e["sessions"], e["share"]] for e in result["edges"]]
