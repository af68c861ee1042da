"""Dashboards and their tiles: the reads (``dashboards_*``, ``*_get``) and writes.

A dashboard is a grid of ``GRID_COLUMNS`` columns holding tiles: saved insights and
Markdown text cards, each at ``x, y`` (cells from the top left) and ``w`` columns by ``h``
rows. Tiles never overlap and never leave the grid; :func:`layout_apply` checks a whole new
layout before it saves any of it.

A dashboard's ``date_range`` (``{"range": ["7d"]}`` or ``{"date_from": [...], "date_to":
[...]}``, empty for "each tile's own range") replaces the range of every insight tile on it.

Every project has a home dashboard (``is_default``), made with a few tiles when the project
is created (:func:`project_created`) or, for a project older than dashboards, the first time
its dashboards are opened (:func:`dashboard_default_ensure`).

A dashboard can be shared read-only by a link ``/shared/<token>/``: only a SHA-256 of the
token is kept (:func:`share_create` returns the token once; :func:`share_revoke` forgets it).

Callers check the role first, through ``project_get_for_user``. Bad input is a
:class:`ParamError` naming the field (``tiles.2.w``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from apps.dashboards.markdown import MAX_TEXT
from apps.dashboards.models import Dashboard, SavedInsight, Tile
from apps.funnels.models import Funnel
from apps.projects.models import Project
from apps.query.dates import PRESETS, date_range_resolve
from pulseboard.errors import NotFound, ParamError, text_clean

GRID_COLUMNS = 12
TILE_MAX_H = 24  # rows of 70 px
GRID_MAX_Y = 1000
MAX_TILES = 60
NAME_MAX = Dashboard._meta.get_field("name").max_length
DESCRIPTION_MAX = 2000
INSIGHT_SIZE = (6, 5)
TEXT_SIZE = (6, 3)
DEFAULT_NAME = "Home"
# A share token: secrets.token_urlsafe(32) is 43 characters of the URL-safe base64 alphabet.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class LayoutError(ParamError):
    code = "invalid_layout"


# --- Reads ------------------------------------------------------------------------------------


def dashboards_for_project(*, project: Project) -> QuerySet[Dashboard]:
    """The project's dashboards, the home one first, then by name; with ``tile_count``."""
    return Dashboard.objects.filter(project=project).annotate(tile_count=Count("tiles")).order_by("-is_default", "name", "id")


def dashboard_get(*, project: Project, dashboard_id: int) -> Dashboard:
    """A dashboard of ``project``; :class:`NotFound` for any other id."""
    if not 0 < int(dashboard_id) < 2**63:
        raise NotFound("No such dashboard.")
    dashboard = Dashboard.objects.filter(project=project, id=dashboard_id).first()
    if dashboard is None:
        raise NotFound("No such dashboard.")
    dashboard.project = project  # the caller's copy, which carries the user's role
    return dashboard


def tiles_of(*, dashboard: Dashboard) -> list[Tile]:
    """The dashboard's tiles, top to bottom, with their insights."""
    return list(dashboard.tiles.select_related("insight").order_by("y", "x", "id"))


def tile_get(*, dashboard: Dashboard, tile_id: int) -> Tile:
    """A tile of ``dashboard``; :class:`NotFound` for a tile of any other dashboard."""
    if not 0 < int(tile_id) < 2**63:
        raise NotFound("No such tile.")
    tile = Tile.objects.filter(dashboard=dashboard, id=tile_id).select_related("insight").first()
    if tile is None:
        raise NotFound("No such tile.")
    tile.dashboard = dashboard
    return tile


def share_token_hash(token: str) -> str:
    # The token has 256 random bits: a fast hash is enough, there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def dashboard_for_share_token(*, token: str) -> Dashboard | None:
    """The dashboard a share link opens, with its project; None for any other string."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        return None
    return Dashboard.objects.select_related("project").filter(share_token_hash=share_token_hash(token)).first()


def date_range_label(date_range: Mapping | None) -> str:
    """How a dashboard's range reads: "Last 7 days", "2026-01-01 – 2026-01-31", or the tiles' own."""
    date_range = date_range or {}
    preset = (date_range.get("range") or [None])[0]
    if preset in PRESETS:
        return f"Last {PRESETS[preset][0]}"
    start, end = (date_range.get("date_from") or [None])[0], (date_range.get("date_to") or [None])[0]
    if start and end:
        return f"{start} – {end}"
    return "Each tile's own range"


# --- Dashboards -------------------------------------------------------------------------------


def _name_check(name) -> str:
    return text_clean(name, field="name", limit=NAME_MAX, required="give the dashboard a name")


def _description_check(description) -> str:
    return text_clean(description, field="description", limit=DESCRIPTION_MAX)


def _user(user: AbstractBaseUser | None):
    return user if user is not None and user.is_authenticated else None


def _single(value, field: str) -> str | None:
    """One string out of a list of one, a string, or nothing."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ParamError(field, "give one value")
        value = value[0]
    if not isinstance(value, str):
        raise ParamError(field, "must be a string")
    return value or None


def date_range_clean(*, project: Project, date_range: Any) -> dict[str, list[str]]:
    """A dashboard's range as it is saved: ``{"range": [preset]}``, ``{"date_from": [day],
    "date_to": [day]}``, or ``{}`` (each tile's own range). Accepts single values or lists,
    and ``preset`` (what the date controls send) for ``range``. Checked as the insight pages
    check a range: a ParamError names the bad field."""
    if date_range is None:
        return {}
    if not isinstance(date_range, Mapping):
        raise ParamError("date_range", "must be an object: {\"range\": \"7d\"}, {\"date_from\", \"date_to\"} or {}")
    unknown = sorted(set(date_range) - {"range", "preset", "date_from", "date_to", "interval"})
    if unknown:
        raise ParamError(f"date_range.{unknown[0]}", "unknown key (use range, or date_from and date_to)")
    preset = _single(date_range.get("preset"), "date_range.preset") or _single(date_range.get("range"), "date_range.range")
    start = _single(date_range.get("date_from"), "date_range.date_from")
    end = _single(date_range.get("date_to"), "date_range.date_to")
    if preset is None and start is None and end is None:
        return {}
    params = {"range": preset} if preset else {"date_from": start, "date_to": end}
    try:
        resolved = date_range_resolve(params=params, tz_name=project.timezone)
    except ParamError as error:
        raise ParamError(f"date_range.{error.field}", error.message) from None
    if preset:
        return {"range": [preset]}
    # Whole days as the controls show them (a date-time is cut to its day in the project's timezone).
    shown = resolved.query_params()
    return {"date_from": [shown["date_from"]], "date_to": [shown["date_to"]]}


def dashboard_create(
    *, project: Project, name: str, description: str = "", created_by: AbstractBaseUser | None = None
) -> Dashboard:
    return Dashboard.objects.create(
        project=project, name=_name_check(name), description=_description_check(description), created_by=_user(created_by)
    )


_UNSET = object()


def dashboard_update(*, dashboard: Dashboard, name=_UNSET, description=_UNSET, date_range=_UNSET) -> Dashboard:
    """Change what is given: the name, the description, the range (``{}`` clears it)."""
    fields = []
    if name is not _UNSET:
        dashboard.name = _name_check(name)
        fields.append("name")
    if description is not _UNSET:
        dashboard.description = _description_check(description)
        fields.append("description")
    if date_range is not _UNSET:
        dashboard.date_range = date_range_clean(project=dashboard.project, date_range=date_range)
        fields.append("date_range")
    if fields:
        dashboard.save(update_fields=[*fields, "updated_at"])
    return dashboard


def dashboard_make_default(*, dashboard: Dashboard) -> Dashboard:
    """Make ``dashboard`` its project's home (the one the overview links to)."""
    with transaction.atomic():
        Dashboard.objects.filter(project_id=dashboard.project_id, is_default=True).exclude(pk=dashboard.pk).update(is_default=False)
        dashboard.is_default = True
        dashboard.save(update_fields=["is_default", "updated_at"])
    return dashboard


def dashboard_delete(*, dashboard: Dashboard) -> None:
    """Delete a dashboard and its tiles (the saved insights stay). The home dashboard cannot
    be deleted: make another one the home first."""
    if dashboard.is_default:
        raise ParamError("dashboard", "the home dashboard cannot be deleted; make another dashboard the home first")
    dashboard.delete()


# --- The home dashboard -----------------------------------------------------------------------

WELCOME = """### Welcome to {name}

This is the project's **home dashboard**: the figures everyone opens first.

- **Add tile** puts a saved insight or a text card like this one on it.
- Drag a tile by its title to move it, and by its corner to resize it.
- The range at the top applies to every tile; *Each tile's own* leaves each its saved range.
"""


def _default_tiles(project: Project) -> list[tuple[dict, tuple[int, int, int, int]]]:
    """The home dashboard's tiles: ``(tile fields, (x, y, w, h))``."""
    pageviews = SavedInsight.objects.create(
        project=project, kind="trends", name="Pageviews, last 30 days", query={"events": ["$pageview"], "range": ["30d"]}
    )
    active = SavedInsight.objects.create(
        project=project, kind="active_users", name="Active users, last 30 days", query={"range": ["30d"]}
    )
    tiles = [
        ({"text": WELCOME.format(name=project.name.replace("*", "\\*").replace("_", "\\_"))}, (0, 0, 12, 4)),
        ({"insight": pageviews}, (0, 4, 6, 5)),
        ({"insight": active}, (6, 4, 6, 5)),
    ]
    funnel = Funnel.objects.filter(project=project).order_by("-updated_at", "-id").first()
    if funnel is not None:
        conversion = SavedInsight.objects.create(
            project=project, kind="funnel", name=f"{funnel.name[:180]}, last 30 days", query={"funnel_id": [str(funnel.id)], "range": ["30d"]}
        )
        tiles.append(({"insight": conversion}, (0, 9, 12, 5)))
    return tiles


def dashboard_default_ensure(*, project: Project) -> Dashboard:
    """The project's home dashboard, made (with its tiles) if the project has none."""
    existing = Dashboard.objects.filter(project=project, is_default=True).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            dashboard = Dashboard.objects.create(
                project=project,
                name=DEFAULT_NAME,
                description="The project's main figures at a glance.",
                is_default=True,
            )
            Tile.objects.bulk_create(
                Tile(dashboard=dashboard, x=x, y=y, w=w, h=h, **fields) for fields, (x, y, w, h) in _default_tiles(project)
            )
    except IntegrityError:  # another request made it meanwhile (one default per project)
        return Dashboard.objects.get(project=project, is_default=True)
    return dashboard


def project_created(sender, instance: Project, created: bool, raw: bool = False, **kwargs) -> None:
    """``post_save`` of a project: a new project gets its home dashboard."""
    if created and not raw:
        dashboard_default_ensure(project=instance)


# --- Tiles ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    def overlaps(self, other: "Box") -> bool:
        return self.x < other.x + other.w and other.x < self.x + self.w and self.y < other.y + other.h and other.y < self.y + self.h


def _int(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise LayoutError(field, "must be a whole number")
    try:
        return int(value)
    except ValueError:
        raise LayoutError(field, "must be a whole number") from None


def box_check(values: Mapping, *, prefix: str = "") -> Box:
    """A tile's place from ``x, y, w, h``: whole numbers, inside the grid."""
    x, y, w, h = (_int(values.get(name), f"{prefix}{name}") for name in ("x", "y", "w", "h"))
    if x < 0 or y < 0:
        raise LayoutError(f"{prefix}{'x' if x < 0 else 'y'}", "must not be negative")
    if not 1 <= w <= GRID_COLUMNS:
        raise LayoutError(f"{prefix}w", f"must be between 1 and {GRID_COLUMNS} columns")
    if not 1 <= h <= TILE_MAX_H:
        raise LayoutError(f"{prefix}h", f"must be between 1 and {TILE_MAX_H} rows")
    if x + w > GRID_COLUMNS:
        raise LayoutError(f"{prefix}x", f"the tile ends past the grid's {GRID_COLUMNS} columns (x + w = {x + w})")
    if y > GRID_MAX_Y:
        raise LayoutError(f"{prefix}y", f"must be at most {GRID_MAX_Y}")
    return Box(x, y, w, h)


def _free_spot(boxes: list[Box], w: int, h: int) -> Box:
    """The first place, top to bottom and left to right, where a ``w`` by ``h`` tile fits."""
    bottom = max((b.y + b.h for b in boxes), default=0)
    for y in range(bottom + 1):
        for x in range(GRID_COLUMNS - w + 1):
            spot = Box(x, y, w, h)
            if not any(spot.overlaps(b) for b in boxes):
                return spot
    return Box(0, bottom, w, h)


def _insight_check(dashboard: Dashboard, insight) -> SavedInsight:
    if isinstance(insight, SavedInsight):
        insight_id = insight.pk
    else:
        insight_id = insight
    if isinstance(insight_id, bool):
        raise ParamError("insight", "must be the id of a saved insight")
    try:
        insight_id = int(insight_id)
    except (TypeError, ValueError):
        raise ParamError("insight", "must be the id of a saved insight") from None
    found = SavedInsight.objects.filter(project_id=dashboard.project_id, id=insight_id).first() if 0 < insight_id < 2**63 else None
    if found is None:
        raise ParamError("insight", "no saved insight of this project has that id")
    return found


def _text_check(text) -> str:
    return text_clean(text, field="text", limit=MAX_TEXT, required="write something for the card")


def tile_create(*, dashboard: Dashboard, insight=None, text: str | None = None, box: Mapping | None = None) -> Tile:
    """A new tile of a saved insight (an id or the object) or of Markdown ``text`` (one of the
    two), placed at ``box`` (``x, y, w, h``) or in the first free place."""
    if (insight is None) == (text is None or text == ""):
        raise ParamError("insight" if insight is None and not text else "text", "a tile is either a saved insight or a text card")
    with transaction.atomic():
        # One tile added at a time per dashboard: two at once would take the same free place.
        Dashboard.objects.select_for_update().filter(pk=dashboard.pk).first()
        existing = list(dashboard.tiles.all())
        if len(existing) >= MAX_TILES:
            raise ParamError("dashboard", f"a dashboard holds at most {MAX_TILES} tiles")
        fields: dict[str, Any] = {"insight": _insight_check(dashboard, insight)} if insight is not None else {"text": _text_check(text)}
        boxes = [Box(t.x, t.y, t.w, t.h) for t in existing]
        if box is not None:
            place = box_check(box)
            for other in existing:
                if place.overlaps(Box(other.x, other.y, other.w, other.h)):
                    raise LayoutError("y", f"the tile would overlap tile {other.pk}")
        else:
            w, h = INSIGHT_SIZE if insight is not None else TEXT_SIZE
            place = _free_spot(boxes, w, h)
        tile = Tile.objects.create(dashboard=dashboard, x=place.x, y=place.y, w=place.w, h=place.h, **fields)
        Dashboard.objects.filter(pk=dashboard.pk).update(updated_at=timezone.now())
    tile.dashboard = dashboard
    return tile


def tile_update(*, tile: Tile, text=_UNSET, insight=_UNSET, box: Mapping | None = None) -> Tile:
    """Change a tile's text (a text card), its insight (an insight tile), or its place."""
    fields = []
    if text is not _UNSET:
        if tile.insight_id is not None:
            raise ParamError("text", "this tile shows a saved insight, not text")
        tile.text = _text_check(text)
        fields.append("text")
    if insight is not _UNSET:
        if tile.insight_id is None:
            raise ParamError("insight", "this tile is a text card")
        tile.insight = _insight_check(tile.dashboard, insight)
        fields.append("insight")
    with transaction.atomic():
        if box is not None:
            Dashboard.objects.select_for_update().filter(pk=tile.dashboard_id).first()
            place = box_check(box)
            for other in Tile.objects.filter(dashboard_id=tile.dashboard_id).exclude(pk=tile.pk):
                if place.overlaps(Box(other.x, other.y, other.w, other.h)):
                    raise LayoutError("y", f"the tile would overlap tile {other.pk}")
            tile.x, tile.y, tile.w, tile.h = place.x, place.y, place.w, place.h
            fields += ["x", "y", "w", "h"]
        if fields:
            tile.save(update_fields=fields)
    return tile


def tile_delete(*, tile: Tile) -> None:
    tile.delete()


def layout_apply(*, dashboard: Dashboard, tiles: Any) -> list[Tile]:
    """Move and resize tiles of ``dashboard`` at once: ``tiles`` is a list of ``{"id", "x",
    "y", "w", "h"}``, usually every tile (one left out keeps its place). Checked whole before
    anything is saved: every id a tile of this dashboard, given once; every place inside the
    grid; no two tiles overlapping. A :class:`LayoutError` names the first problem
    (``tiles.2.w``) and nothing changes."""
    if not isinstance(tiles, list):
        raise LayoutError("tiles", "must be a list of {id, x, y, w, h}")
    if len(tiles) > MAX_TILES:
        raise LayoutError("tiles", f"at most {MAX_TILES} tiles")
    with transaction.atomic():
        Dashboard.objects.select_for_update().filter(pk=dashboard.pk).first()
        current = {tile.pk: tile for tile in dashboard.tiles.all()}
        placed: dict[int, Box] = {}
        for index, item in enumerate(tiles):
            prefix = f"tiles.{index}."
            if not isinstance(item, Mapping):
                raise LayoutError(f"tiles.{index}", "must be an object {id, x, y, w, h}")
            tile_id = _int(item.get("id"), f"{prefix}id")
            if tile_id not in current:
                raise LayoutError(f"{prefix}id", f"no tile {tile_id} on this dashboard")
            if tile_id in placed:
                raise LayoutError(f"{prefix}id", f"tile {tile_id} is given twice")
            placed[tile_id] = box_check(item, prefix=prefix)
        final = {pk: placed.get(pk, Box(t.x, t.y, t.w, t.h)) for pk, t in current.items()}
        ordered = sorted(final.items())
        for i, (pk, box) in enumerate(ordered):
            for other_pk, other in ordered[i + 1:]:
                if box.overlaps(other):
                    index = next((n for n, item in enumerate(tiles) if isinstance(item, Mapping) and str(item.get("id")) == str(other_pk)), None)
                    field = f"tiles.{index}" if index is not None else "tiles"
                    raise LayoutError(field, f"tiles {pk} and {other_pk} overlap")
        changed = []
        for pk, box in placed.items():
            tile = current[pk]
            if (tile.x, tile.y, tile.w, tile.h) != (box.x, box.y, box.w, box.h):
                tile.x, tile.y, tile.w, tile.h = box.x, box.y, box.w, box.h
                changed.append(tile)
        if changed:
            Tile.objects.bulk_update(changed, ["x", "y", "w", "h"])
            Dashboard.objects.filter(pk=dashboard.pk).update(updated_at=timezone.now())
    return sorted(current.values(), key=lambda t: (t.y, t.x, t.pk))


# --- Sharing ----------------------------------------------------------------------------------


def share_create(*, dashboard: Dashboard, user: AbstractBaseUser | None) -> str:
    """A new read-only link for ``dashboard``; returns its token, which is not kept (only its
    SHA-256 is): show it now. A link made before stops working."""
    token = secrets.token_urlsafe(32)
    dashboard.share_token_hash = share_token_hash(token)
    dashboard.shared_at = timezone.now()
    dashboard.shared_by = _user(user)
    dashboard.save(update_fields=["share_token_hash", "shared_at", "shared_by", "updated_at"])
    return token


def share_revoke(*, dashboard: Dashboard) -> None:
    """The dashboard's link stops working at once."""
    dashboard.share_token_hash = None
    dashboard.shared_at = None
    dashboard.shared_by = None
    dashboard.save(update_fields=["share_token_hash", "shared_at", "shared_by", "updated_at"])
