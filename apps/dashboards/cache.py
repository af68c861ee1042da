"""Dashboard tiles cached in Redis, until the project's data changes.

A tile of a saved insight is rendered once and kept as HTML under a key made of

* the project and its **data watermark**: a counter per project,
  ``<REDIS_KEY_PREFIX>:watermark:<project_id>``, that moves whenever the project's stored
  data changes: every batch the flush stores (in the flush, by the written hook, which never
  drops a batch, and again by the best-effort after-storage hook), every deletion of
  events, of a person, by retention or of the project (ingest's changed-data hook), and
  every edit of a funnel or an annotation (tiles show a funnel's current steps and the
  notes on a chart);
* a SHA-256 of what the tile shows: the insight's kind, its saved query, the dashboard's
  range override, the project's timezone, and, for a range that ends "now" (a preset such
  as ``30d``), the current hour (so a sliding window moves on even when no event comes);
* a stamp of the code that renders tiles (an upgrade never serves HTML of the old code).

So a reload answers from the cache until new data lands, and the first load after that
computes afresh (a key of an old watermark is never read again and expires). The tile's
chart id is not in the key: the HTML is stored with a placeholder id, replaced on the way
out. ``refresh`` skips the read (the "Refresh" buttons) and stores the new result. Entries
live ``TILE_TTL_SECONDS`` (24 h) at most, so Redis never fills up with old watermarks.

The cache is an optimisation only: when Redis fails, tiles are computed every time.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import orjson
import redis
from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string

from apps.dashboards import registry
from apps.dashboards.models import SavedInsight
from apps.ingest import stream
from apps.ingest.hooks import StoredRows
from apps.projects.models import Project

logger = logging.getLogger(__name__)

TILE_TTL_SECONDS = 24 * 3600
# Rendered in place of the tile's chart id, replaced by the real one on the way out (the
# same insight can be on two dashboards, or twice on one, under different ids).
CHART_ID_PLACEHOLDER = "pbtilechart-7c1e5a90"
# Sources whose change changes a rendered tile: the apps that compute and draw insights.
_CODE_DIRS = ("apps/analytics", "apps/funnels", "apps/web", "apps/query", "apps/dashboards", "templates/dashboards", "templates/query", "templates/web")


def watermark_key(project_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:watermark:{int(project_id)}"


def _tile_key(project_id: int, watermark: int, digest: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:tile:{int(project_id)}:{watermark}:{digest}"


def watermark_get(project_id: int) -> int:
    """The project's data watermark (0 before its data first changed)."""
    value = stream.client().get(watermark_key(project_id))
    return int(value) if value is not None else 0


def watermark_bump(project_id: int) -> int:
    """Move the project's watermark on: every cached tile of the project is stale now."""
    return int(stream.client().incr(watermark_key(project_id)))


def watermarks_bump_stored(stored: list[StoredRows]) -> None:
    """After-storage hook: each project a stored batch had rows of gets a new watermark."""
    project_ids = sorted({rows.project_id for rows in stored if rows.count})
    if not project_ids:
        return
    pipe = stream.client().pipeline(transaction=False)
    for project_id in project_ids:
        pipe.incr(watermark_key(project_id))
    pipe.execute()


def watermarks_bump_written(stored: list[StoredRows]) -> None:
    """Written hook: the same, in the flush. A Redis error is logged, not raised: it would
    have the batch written again, and the after-storage hook tries once more."""
    try:
        watermarks_bump_stored(stored)
    except redis.RedisError:
        logger.warning("could not move the dashboard watermarks of a written batch", exc_info=True)


def definition_changed(sender, instance, **kwargs) -> None:
    """A funnel or an annotation of a project was saved or deleted: tiles must show the new
    definition or note. The watermark moves now and again once the transaction commits (a
    tile computed in between, from the funnel's old steps, would otherwise be kept under the
    new watermark)."""
    if kwargs.get("raw"):
        return
    project_id = instance.project_id

    def bump() -> None:
        try:
            watermark_bump(project_id)
        except redis.RedisError:
            logger.warning("could not move the dashboard watermark of project %s", project_id, exc_info=True)

    bump()
    transaction.on_commit(bump)


@lru_cache(maxsize=1)
def code_stamp() -> str:
    """A hash of the code that computes and renders tiles, worked out once per process."""
    digest = hashlib.sha256()
    base = Path(settings.BASE_DIR)
    for folder in _CODE_DIRS:
        for path in sorted((base / folder).rglob("*")):
            if path.suffix in (".py", ".html") and path.is_file() and "tests" not in path.parts:
                digest.update(str(path.relative_to(base)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _window(params) -> str | None:
    """The current hour for a range that ends now (a preset, or the default range); None for
    a fixed range (date_from and date_to), whose figures only change with the data."""
    if params.get("range") or params.get("preset") or not (params.get("date_from") and params.get("date_to")):
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H")
    return None


def tile_digest(*, project: Project, insight: SavedInsight, override: dict | None, public: bool = False) -> str:
    """What a tile shows, hashed: kind, saved query, range override, timezone, the window's
    hour for a sliding range, whether it is for a shared link, and the code stamp."""
    params = registry.query_dict(insight.query, override)
    material = {
        "kind": insight.kind,
        "public": public,
        "query": {name: list(values) for name, values in sorted((insight.query or {}).items())},
        "override": {name: list(values) for name, values in sorted((override or {}).items())},
        "timezone": project.timezone,
        "window": _window(params),
        "code": code_stamp(),
    }
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class RenderedTile:
    html: str
    computed_at: datetime
    from_cache: bool


def _render(project: Project, insight: SavedInsight, override: dict | None, public: bool) -> str:
    content = registry.tile_content(project, insight, chart_id=CHART_ID_PLACEHOLDER, override=override, public=public)
    return render_to_string(content.template, content.context)


def _decoded(hit: bytes, chart_id: str) -> RenderedTile:
    stored = orjson.loads(hit)
    computed_at = datetime.fromtimestamp(stored["at"], tz=timezone.utc)
    return RenderedTile(stored["html"].replace(CHART_ID_PLACEHOLDER, chart_id), computed_at, True)


def tile_render(
    *, project: Project, insight: SavedInsight, override: dict | None, chart_id: str, refresh: bool = False, public: bool = False
) -> RenderedTile:
    """A saved insight's tile as HTML, from the cache unless ``refresh`` or the project's
    data changed since it was computed. Raises what computing the insight raises (ClickHouse
    unreachable...); a saved query that no longer works is an error tile, cached like any.
    ``public``: the tile of a shared link (:func:`apps.dashboards.registry.tile_content`)."""
    digest = tile_digest(project=project, insight=insight, override=override, public=public)
    client = stream.client()
    key = None
    try:
        # Read before computing: data that lands meanwhile moves the watermark, and this
        # result is kept under the old one, never read again.
        key = _tile_key(project.id, watermark_get(project.id), digest)
        hit = None if refresh else client.get(key)
        if hit is not None:
            return _decoded(hit, chart_id)
    except (redis.RedisError, ValueError, KeyError, TypeError):
        logger.warning("dashboard cache unreadable for project %s; computing the tile", project.id, exc_info=True)
    html = _render(project, insight, override, public)
    computed_at = datetime.now(timezone.utc)
    if key is not None:
        try:
            client.set(key, orjson.dumps({"html": html, "at": computed_at.timestamp()}), ex=TILE_TTL_SECONDS)
        except redis.RedisError:
            logger.warning("could not cache a tile of project %s", project.id, exc_info=True)
    return RenderedTile(html.replace(CHART_ID_PLACEHOLDER, chart_id), computed_at, False)


def tiles_from_cache(
    *, project: Project, tiles: list[tuple[SavedInsight, str]], override: dict | None, public: bool = False
) -> list[RenderedTile | None]:
    """The cached HTML of several tiles, ``(insight, chart_id)`` each, in one read of the
    watermark and one MGET: None for a tile not in the cache. A dashboard page puts these in
    its HTML and lets only the others load on their own. Never raises: with Redis down,
    every tile loads on its own."""
    if not tiles:
        return []
    try:
        watermark = watermark_get(project.id)
        keys = [
            _tile_key(project.id, watermark, tile_digest(project=project, insight=insight, override=override, public=public))
            for insight, _ in tiles
        ]
        hits = stream.client().mget(keys)
        return [None if hit is None else _decoded(hit, chart_id) for hit, (_, chart_id) in zip(hits, tiles)]
    except (redis.RedisError, ValueError, KeyError, TypeError):
        logger.warning("dashboard cache unreadable for project %s; tiles load on their own", project.id, exc_info=True)
        return [None] * len(tiles)


def tiles_cached(*, project_id: int) -> int:
    """How many cached tiles the project has in Redis (any watermark): for tests and ops."""
    pattern = f"{settings.REDIS_KEY_PREFIX}:tile:{int(project_id)}:*"
    return sum(1 for _ in stream.client().scan_iter(match=pattern, count=1000))
