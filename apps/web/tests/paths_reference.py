"""A pure-Python reference of paths, written from the definition (README, "Paths").

Events are dicts as :func:`apps.persons.tests.histories.history_annotated` gives them (an
aware ``timestamp``, ``event_id``, ``person``, optionally ``session_id``, ``event`` and
``page_url``). Sessions follow the sessions reference: the events of one ``session_id``,
or a person's events without one, cut where more than the gap passes.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

from apps.web.tests.sessions_reference import session_groups

NOT_ACTIONS = {"$identify", "$create_alias", "$set", "$groupidentify", "$pageleave"}


def node(e: dict, path_type: str) -> str | None:
    """The node of an event, or None when it is not part of the paths of this type."""
    if path_type == "events":
        return None if e["event"] in NOT_ACTIONS else e["event"]
    url = e.get("page_url", "")
    if e["event"] != "$pageview" or not url:
        return None
    return urlsplit(url).path.rstrip("/") or "/"


def path_of(nodes: list[str], *, start: str, end: str, depth: int) -> tuple[list[str], int]:
    """The path kept of a session's nodes, and the column (from 1) of its first node."""
    compact = [n for i, n in enumerate(nodes) if i == 0 or n != nodes[i - 1]]
    if start and end:
        if start not in compact:
            return [], 1
        s = compact.index(start)
        rest = compact[s + 1 :]
        if end not in rest or rest.index(end) + 1 > depth:
            return [], 1
        return compact[s : s + rest.index(end) + 2], 1
    if start:
        return (compact[compact.index(start) :][: depth + 1], 1) if start in compact else ([], 1)
    if end:
        if end not in compact:
            return [], 1
        before = compact[: compact.index(end) + 1][-(depth + 1) :]
        return before, depth + 2 - len(before)
    return compact[: depth + 1], 1


def paths(events: list[dict], *, date_from, date_to, gap: timedelta, path_type: str, start: str = "", end: str = "", depth: int) -> dict:
    """Every edge ``(step, source, target) -> sessions``, every node ``(step, name) ->
    sessions`` and the sessions of each column."""
    edges, nodes = Counter(), Counter()
    for group in session_groups(events, date_from=date_from, date_to=date_to, gap=gap):
        names = [n for n in (node(e, path_type) for e in group) if n is not None]
        path, first = path_of(names, start=start, end=end, depth=depth)
        for i, name in enumerate(path):
            nodes[(first + i, name)] += 1
            if i + 1 < len(path):
                edges[(first + i, name, path[i + 1])] += 1
    steps = {step: sum(n for (s, _), n in nodes.items() if s == step) for step in range(1, depth + 2)}
    return {"edges": edges, "nodes": nodes, "steps": steps}


def top_edges(edges: Counter, limit: int) -> list[dict]:
    """The top ``limit`` edges of each step, as the API lists them."""
    ranked = sorted(edges.items(), key=lambda item: (item[0][0], -item[1], item[0][1], item[0][2]))
    shown, per_step = [], Counter()
    for (step, source, target), sessions in ranked:
        per_step[step] += 1
        if per_step[step] <= limit:
            shown.append({"step": step, "source": source, "target": target, "sessions": sessions})
    return shown
