"""Dashboard pages: the list (create), a dashboard (its tile frames, range, sharing), its
tiles (add, edit, remove, each tile's content and CSV), rename and delete.

A dashboard page renders the frames of its tiles only; each insight tile then loads its
content on its own (``hx-get`` of :func:`tile_body` on ``load``), with its own loading
indicator and error state, from the tile cache (:mod:`apps.dashboards.cache`). Text cards
are rendered with the page (Markdown, :mod:`apps.dashboards.markdown`).

The range: the page's address may carry one (``range``/``preset`` or ``date_from`` and
``date_to``, what the shared date controls send), which is then applied to every insight
tile without being saved: members save it on the dashboard with "Save range". Without one,
the dashboard's saved range applies, or each tile's own.

Every page renders whole on a normal request and only its partial on an HTMX one. Reading
needs the viewer role, changing anything the member role (``Access.EDIT``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.timesince import timesince
from django.views.decorators.http import require_GET, require_POST

from apps.dashboards import cache, registry
from apps.dashboards import dashboards as boards
from apps.dashboards.insights import insights_for_project
from apps.dashboards.markdown import MAX_TEXT, markdown_render
from apps.dashboards.models import Dashboard, Tile
from apps.projects.models import Project
from apps.projects.navigation import project_url
from apps.projects.selectors import Access, project_get_for_user
from apps.query.dates import PRESETS
from pulseboard.errors import NotFound, ParamError
from pulseboard.htmx import go, page, vary_on_htmx
from pulseboard.http import csv_download, param_error_text

logger = logging.getLogger(__name__)

PAGE = "dashboards/boards/page.html"
RANGE_KEYS = ("preset", "range", "date_from", "date_to")
PICKER_LIMIT = 30


def _render(request: HttpRequest, partial: str, context: dict, status: int = 200) -> HttpResponse:
    return page(request, PAGE, partial, {**context, "partial": partial}, status=status)


def _kwargs(project: Project, dashboard: Dashboard | None = None, tile: Tile | None = None) -> dict:
    kwargs = {"project_id": project.id}
    if dashboard is not None:
        kwargs["dashboard_id"] = dashboard.id
    if tile is not None:
        kwargs["tile_id"] = tile.id
    return kwargs


def _urls(project: Project, dashboard: Dashboard | None = None) -> dict[str, str]:
    urls = {"list_url": reverse("dashboards-list", kwargs={"project_id": project.id})}
    if dashboard is not None:
        kw = _kwargs(project, dashboard)
        urls.update(
            detail_url=reverse("dashboards-detail", kwargs=kw),
            edit_url=reverse("dashboards-edit", kwargs=kw),
            delete_url=reverse("dashboards-delete", kwargs=kw),
            home_url=reverse("dashboards-make-home", kwargs=kw),
            range_url=reverse("dashboards-range", kwargs=kw),
            share_url=reverse("dashboards-share", kwargs=kw),
            share_revoke_url=reverse("dashboards-share-revoke", kwargs=kw),
            tile_new_url=reverse("dashboards-tile-new", kwargs=kw),
            picker_url=reverse("dashboards-tile-insights", kwargs=kw),
            layout_url=reverse("api-dashboard-layout", kwargs=kw),
        )
    return urls


def ago(moment: datetime, now: datetime | None = None) -> str:
    """"just now", "4 min ago", "3 h ago", or Django's "2 days ago"."""
    now = now or datetime.now(timezone.utc)
    seconds = max(0, (now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{timesince(moment, now, depth=1)} ago"


# --- The range of a page ----------------------------------------------------------------------


def range_override(request: HttpRequest, project: Project, dashboard: Dashboard) -> tuple[dict, bool, ParamError | None]:
    """The range the tiles get: ``(override, from the address?, error)``. A range in the
    address wins (unsaved); a bad one is reported and the saved range applies."""
    given = {key: request.GET.get(key) for key in RANGE_KEYS if request.GET.get(key)}
    if given:
        try:
            return boards.date_range_clean(project=project, date_range=given), True, None
        except ParamError as error:
            return dict(dashboard.date_range or {}), False, error
    return dict(dashboard.date_range or {}), False, None


def _range_query(override: dict) -> str:
    return urlencode({key: values[0] for key, values in override.items() if values})


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def date_controls_context(project: Project, override: dict, error: ParamError | None) -> dict:
    """The shared date controls (``query/partials/date_controls.html``) showing ``override``;
    no interval (each tile keeps its own)."""
    preset = (override.get("range") or [None])[0]
    return {
        "presets": [(value, label) for value, (label, _) in PRESETS.items()],
        "preset": preset,
        "date_from": (override.get("date_from") or [""])[0],
        "date_to": (override.get("date_to") or [""])[0],
        "interval": None,
        "intervals": [],
        "hidden": [],
        "error": error,
    }


# --- Tiles of a page --------------------------------------------------------------------------


def _refresh_url(body_url: str) -> str:
    return f"{body_url}{'&' if '?' in body_url else '?'}refresh=1"


def tile_body_context(rendered: cache.RenderedTile, *, body_url: str, public: bool) -> dict:
    """What ``tile_body.html`` shows of a rendered tile: its HTML, when it was computed, and
    (for members) a Refresh button."""
    return {
        "html": rendered.html,
        "computed_at": rendered.computed_at,
        "from_cache": rendered.from_cache,
        "updated": ago(rendered.computed_at),
        "refresh_url": None if public else _refresh_url(body_url),
    }


def tile_frames(
    *,
    project: Project,
    tiles: list[Tile],
    tile_url,
    csv_url,
    open_urls: bool,
    range_query: str,
    override: dict,
    body_query: str | None = None,
    public: bool = False,
    from_cache: bool = True,
) -> list[dict]:
    """What each tile's frame shows. An insight tile whose content is in the cache comes
    with it (``body``), read for all tiles at once: a reload is one request. The others load
    on their own (``body_url``), as every tile does with ``from_cache=False`` (Refresh)."""
    frames = []
    for tile in tiles:
        frame = {"tile": tile, "id": tile.id, "body": None}
        if tile.insight_id is None:
            frame.update(kind="text", html=markdown_render(tile.text))
        else:
            insight = tile.insight
            try:
                label = registry.insight_type(insight.kind).label
            except NotFound:  # a kind this version does not know: its tile says so
                label = insight.kind
            frame.update(
                kind=insight.kind,
                label=label,
                title=insight.name,
                body_url=_with_query(tile_url(tile), range_query if body_query is None else body_query),
                csv_url=_with_query(csv_url(tile), range_query),
            )
            if open_urls:
                try:
                    frame["open_url"] = registry.insight_url(insight, project_id=project.id)
                except NotFound:
                    frame["open_url"] = None
        frames.append(frame)
    insight_frames = [frame for frame in frames if frame["kind"] != "text"]
    if from_cache:
        cached = cache.tiles_from_cache(
            project=project, tiles=[(frame["tile"].insight, f"tile-{frame['id']}-chart") for frame in insight_frames],
            override=override, public=public,
        )
        for frame, rendered in zip(insight_frames, cached):
            if rendered is not None:
                body_url = _with_query(tile_url(frame["tile"]), range_query)
                frame["body"] = tile_body_context(rendered, body_url=body_url, public=public)
    return frames


def tile_response(
    request: HttpRequest, *, project: Project, tile: Tile, override: dict, body_url: str, public: bool = False
) -> HttpResponse:
    """The content of one tile: the insight from the cache (or afresh), the time it was
    computed and a Refresh button. A failure answers 503 with an error state and a Retry
    button (``static/js/dashboard.js`` swaps it into the tile; the other tiles are not
    concerned). ``public`` (the shared page): no Refresh (a visitor reads the cache) and no
    link into the project."""
    context = {"tile": tile, "body_url": body_url, "refresh_url": None if public else _refresh_url(body_url)}
    if tile.insight_id is None:
        return render(request, "dashboards/boards/partials/tile_text.html", {**context, "html": markdown_render(tile.text)})
    try:
        rendered = cache.tile_render(
            project=project, insight=tile.insight, override=override, chart_id=f"tile-{tile.id}-chart",
            refresh=not public and request.GET.get("refresh") == "1", public=public,
        )
    except Exception:
        logger.exception("tile %s of dashboard %s failed", tile.id, tile.dashboard_id)
        return render(request, "dashboards/boards/partials/tile_failed.html", context, status=503)
    context.update(tile_body_context(rendered, body_url=body_url, public=public))
    response = render(request, "dashboards/boards/partials/tile_body.html", context)
    response["Cache-Control"] = "private, no-store"
    return response


def tile_csv_response(*, project: Project, tile: Tile, override: dict) -> HttpResponse:
    """The table of an insight tile as CSV (the insight page's export, with the range override)."""
    if tile.insight_id is None:
        return HttpResponse("A text card has no table.\n", status=404, content_type="text/plain")
    try:
        header, rows = registry.insight_table(project, tile.insight, override=override)
    except ParamError as error:
        return param_error_text(error)
    slug = "".join(c if c.isalnum() else "-" for c in tile.insight.name.lower()).strip("-")[:60] or tile.insight.kind
    return csv_download(f"{slug}-{tile.id}.csv", header, rows)


# --- List ---------------------------------------------------------------------------------------


def _list_context(project: Project, *, form: dict | None = None, errors: dict | None = None) -> dict:
    boards.dashboard_default_ensure(project=project)
    dashboards = list(boards.dashboards_for_project(project=project))
    now = datetime.now(timezone.utc)
    for dashboard in dashboards:
        dashboard.urls = _urls(project, dashboard)
        dashboard.updated_label = ago(dashboard.updated_at, now)
        dashboard.range_label = boards.date_range_label(dashboard.date_range)
    return {
        "project": project,
        "title": "Dashboards",
        "dashboards": dashboards,
        "form": form or {"name": "", "description": ""},
        "errors": errors or {},
        **_urls(project),
    }


@login_required
def dashboard_list(request: HttpRequest, project_id: int) -> HttpResponse:
    """GET: the project's dashboards (the home one made if missing). POST: create one."""
    if request.method == "POST":
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        form = {"name": request.POST.get("name", ""), "description": request.POST.get("description", "")}
        try:
            dashboard = boards.dashboard_create(project=project, created_by=request.user, **form)
        except ParamError as error:
            context = _list_context(project, form=form, errors={error.field: error.message})
            return _render(request, "dashboards/boards/partials/list_body.html", context, status=400)
        messages.success(request, f"Dashboard “{dashboard.name}” created. Add its first tiles.")
        return go(request, _urls(project, dashboard)["detail_url"])
    project = project_get_for_user(user=request.user, project_id=project_id)
    return _render(request, "dashboards/boards/partials/list_body.html", _list_context(project))


@login_required
@require_GET
def dashboard_home(request: HttpRequest, project_id: int) -> HttpResponse:
    """The project's home dashboard (made if missing): where the overview links."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    dashboard = boards.dashboard_default_ensure(project=project)
    return redirect(reverse("dashboards-detail", kwargs=_kwargs(project, dashboard)))


# --- A dashboard --------------------------------------------------------------------------------


@login_required
@require_GET
def dashboard_detail(request: HttpRequest, project_id: int, dashboard_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    override, from_url, error = range_override(request, project, dashboard)
    range_query = _range_query(override) if from_url else ""
    refresh = request.GET.get("refresh") == "1"
    tiles = boards.tiles_of(dashboard=dashboard)

    def tile_url(tile):
        return reverse("dashboards-tile", kwargs=_kwargs(project, dashboard, tile))

    def csv_url(tile):
        return reverse("dashboards-tile-csv", kwargs=_kwargs(project, dashboard, tile))

    # "Refresh" (the page with refresh=1) has every tile computed afresh.
    refresh_query = "&".join(filter(None, [range_query, "refresh=1"]))
    frames = tile_frames(
        project=project, tiles=tiles, tile_url=tile_url, csv_url=csv_url, open_urls=True, range_query=range_query,
        override=override, body_query=refresh_query if refresh else range_query, from_cache=not refresh,
    )
    for frame in frames:
        kw = _kwargs(project, dashboard, frame["tile"])
        frame["edit_url"] = reverse("dashboards-tile-edit", kwargs=kw)
        frame["delete_url"] = reverse("dashboards-tile-delete", kwargs=kw)
    saved = dict(dashboard.date_range or {})
    urls = _urls(project, dashboard)
    context = {
        "project": project,
        "dashboard": dashboard,
        "title": dashboard.name,
        "frames": frames,
        "date_controls": date_controls_context(project, override, error),
        "range_label": boards.date_range_label(override),
        "saved_range_label": boards.date_range_label(saved),
        "range_unsaved": from_url and override != saved,
        "range_query": range_query,
        "range_hidden": [(key, values[0]) for key, values in override.items()] if from_url else [],
        "saved_range": saved,
        "refresh_all_url": _with_query(urls["detail_url"], refresh_query),
        "insights_url": project_url("insights-list", project.id),
        "grid_columns": boards.GRID_COLUMNS,
        **urls,
    }
    return _render(request, "dashboards/boards/partials/detail_body.html", context, status=400 if error else 200)


@login_required
def dashboard_edit(request: HttpRequest, project_id: int, dashboard_id: int) -> HttpResponse:
    """GET: the rename form. POST: save the name and description."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    urls = _urls(project, dashboard)
    form = {"name": dashboard.name, "description": dashboard.description}
    errors: dict = {}
    if request.method == "POST":
        form = {"name": request.POST.get("name", ""), "description": request.POST.get("description", "")}
        try:
            boards.dashboard_update(dashboard=dashboard, **form)
        except ParamError as error:
            errors = {error.field: error.message}
        else:
            messages.success(request, f"Dashboard “{dashboard.name}” saved.")
            return go(request, urls["detail_url"])
    context = {"project": project, "dashboard": dashboard, "title": f"Rename {dashboard.name}", "form": form, "errors": errors, **urls}
    return _render(request, "dashboards/boards/partials/edit_body.html", context, status=400 if errors else 200)


@login_required
def dashboard_delete(request: HttpRequest, project_id: int, dashboard_id: int) -> HttpResponse:
    """GET: a confirmation page. POST: delete, then back to the list."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    urls = _urls(project, dashboard)
    error = None
    if request.method == "POST":
        name = dashboard.name
        try:
            boards.dashboard_delete(dashboard=dashboard)
        except ParamError as exc:
            error = exc.message
        else:
            messages.success(request, f"Dashboard “{name}” deleted.")
            return go(request, urls["list_url"])
    context = {
        "project": project,
        "dashboard": dashboard,
        "title": f"Delete {dashboard.name}",
        "tile_count": dashboard.tiles.count(),
        "error": error,
        **urls,
    }
    return _render(request, "dashboards/boards/partials/delete_body.html", context, status=400 if error else 200)


@login_required
@require_POST
def dashboard_make_home(request: HttpRequest, project_id: int, dashboard_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    boards.dashboard_make_default(dashboard=dashboard)
    messages.success(request, f"“{dashboard.name}” is the project's home dashboard now: the overview links to it.")
    return go(request, _urls(project, dashboard)["detail_url"])


@login_required
@require_POST
def dashboard_range(request: HttpRequest, project_id: int, dashboard_id: int) -> HttpResponse:
    """Save the range posted (``range``/``preset`` or ``date_from`` and ``date_to``) on the
    dashboard, or clear it (``clear``): each tile's own range then."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    detail_url = _urls(project, dashboard)["detail_url"]
    given = {} if request.POST.get("clear") else {key: request.POST.get(key) for key in RANGE_KEYS if request.POST.get(key)}
    try:
        boards.dashboard_update(dashboard=dashboard, date_range=given)
    except ParamError as error:
        messages.error(request, f"The range was not saved: {error.field.removeprefix('date_range.')}: {error.message}.")
        return go(request, detail_url)
    label = boards.date_range_label(dashboard.date_range)
    messages.success(request, f"Saved: every tile now shows {label.lower()}." if dashboard.date_range else "Each tile shows its own range again.")
    return go(request, detail_url)


# --- Sharing ------------------------------------------------------------------------------------


def _share_context(request: HttpRequest, project: Project, dashboard: Dashboard, token: str | None = None) -> dict:
    return {
        "project": project,
        "dashboard": dashboard,
        "share_link": request.build_absolute_uri(reverse("shared-dashboard", kwargs={"token": token})) if token else None,
        **_urls(project, dashboard),
    }


@login_required
@require_POST
def dashboard_share(request: HttpRequest, project_id: int, dashboard_id: int) -> HttpResponse:
    """Make a new read-only link (a link made before stops working) and show it, once."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    token = boards.share_create(dashboard=dashboard, user=request.user)
    context = _share_context(request, project, dashboard, token)
    response = render(request, "dashboards/boards/partials/share_panel.html", context)
    response["Cache-Control"] = "no-store"  # the link is in it
    return vary_on_htmx(response)


@login_required
@require_POST
def dashboard_share_revoke(request: HttpRequest, project_id: int, dashboard_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    boards.share_revoke(dashboard=dashboard)
    if request.htmx:
        return render(request, "dashboards/boards/partials/share_panel.html", {**_share_context(request, project, dashboard), "revoked": True})
    messages.success(request, "The public link no longer works.")
    return redirect(_urls(project, dashboard)["detail_url"])


# --- Tiles --------------------------------------------------------------------------------------


def _picker_context(project: Project, search: str, selected: str = "") -> dict:
    search = "".join(c for c in search if c.isprintable())  # no NUL or control characters reach the database
    insights = list(insights_for_project(project=project, search=search)[: PICKER_LIMIT + 1])
    for insight in insights:
        try:
            insight.kind_label = registry.insight_type(insight.kind).label
        except NotFound:
            insight.kind_label = insight.kind
    return {
        "insights": insights[:PICKER_LIMIT],
        "more": len(insights) > PICKER_LIMIT,
        "search": search,
        "selected": selected,
        "has_any": bool(insights) or insights_for_project(project=project).exists(),
        "insights_url": project_url("insights-list", project.id),
    }


@login_required
@require_GET
def tile_insights(request: HttpRequest, project_id: int, dashboard_id: int) -> HttpResponse:
    """The saved insights matching ``q``: the picker's list."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    context = _picker_context(project, request.GET.get("q", "")[:200], request.GET.get("insight", ""))
    return vary_on_htmx(render(request, "dashboards/boards/partials/insight_picker.html", context))


@login_required
def tile_new(request: HttpRequest, project_id: int, dashboard_id: int) -> HttpResponse:
    """GET: choose a saved insight or write a text card. POST: add the tile."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    urls = _urls(project, dashboard)
    kind = request.POST.get("kind") or request.GET.get("kind") or "insight"
    kind = kind if kind in ("insight", "text") else "insight"
    form = {"insight": request.POST.get("insight", ""), "text": request.POST.get("text", "")}
    errors: dict = {}
    if request.method == "POST":
        try:
            if kind == "text":
                boards.tile_create(dashboard=dashboard, text=form["text"])
            else:
                boards.tile_create(dashboard=dashboard, insight=form["insight"] or None)
        except ParamError as error:
            field = error.field if error.field in ("insight", "text") else "form"
            errors = {field: error.message}
            if field == "insight" and not form["insight"]:
                errors = {"insight": "pick a saved insight from the list"}
        else:
            messages.success(request, "Tile added.")
            return go(request, urls["detail_url"])
    search = request.GET.get("q", "")[:200]
    context = {
        "project": project,
        "dashboard": dashboard,
        "title": f"Add a tile to {dashboard.name}",
        "kind": kind,
        "form": form,
        "errors": errors,
        "max_text": MAX_TEXT,
        "action_url": urls["tile_new_url"],
        **_picker_context(project, search, form["insight"]),
        **urls,
    }
    return _render(request, "dashboards/boards/partials/tile_form_body.html", context, status=400 if errors else 200)


@login_required
def tile_edit(request: HttpRequest, project_id: int, dashboard_id: int, tile_id: int) -> HttpResponse:
    """GET: the tile's form (its text, or its saved insight). POST: save it."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    tile = boards.tile_get(dashboard=dashboard, tile_id=tile_id)
    urls = _urls(project, dashboard)
    kind = "insight" if tile.insight_id else "text"
    form = {"insight": str(tile.insight_id or ""), "text": tile.text}
    errors: dict = {}
    if request.method == "POST":
        form = {"insight": request.POST.get("insight", ""), "text": request.POST.get("text", "")}
        try:
            if kind == "text":
                boards.tile_update(tile=tile, text=form["text"])
            else:
                boards.tile_update(tile=tile, insight=form["insight"] or None)
        except ParamError as error:
            errors = {error.field if error.field in ("insight", "text") else "form": error.message}
        else:
            messages.success(request, "Tile saved.")
            return go(request, urls["detail_url"])
    search = request.GET.get("q", "")[:200]
    context = {
        "project": project,
        "dashboard": dashboard,
        "tile": tile,
        "title": "Edit tile",
        "kind": kind,
        "editing": True,
        "form": form,
        "errors": errors,
        "max_text": MAX_TEXT,
        "action_url": reverse("dashboards-tile-edit", kwargs=_kwargs(project, dashboard, tile)),
        **_picker_context(project, search, form["insight"]),
        **urls,
    }
    return _render(request, "dashboards/boards/partials/tile_form_body.html", context, status=400 if errors else 200)


@login_required
@require_POST
def tile_delete(request: HttpRequest, project_id: int, dashboard_id: int, tile_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    tile = boards.tile_get(dashboard=dashboard, tile_id=tile_id)
    boards.tile_delete(tile=tile)
    messages.success(request, "Tile removed. The saved insight is still in the project's insights.")
    return go(request, _urls(project, dashboard)["detail_url"])


@login_required
@require_GET
def tile_body(request: HttpRequest, project_id: int, dashboard_id: int, tile_id: int) -> HttpResponse:
    """One tile's content (``hx-get`` of its frame), with the page's range."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    tile = boards.tile_get(dashboard=dashboard, tile_id=tile_id)
    override, from_url, _ = range_override(request, project, dashboard)
    body_url = _with_query(reverse("dashboards-tile", kwargs=_kwargs(project, dashboard, tile)), _range_query(override) if from_url else "")
    return tile_response(request, project=project, tile=tile, override=override, body_url=body_url)


@login_required
@require_GET
def tile_csv(request: HttpRequest, project_id: int, dashboard_id: int, tile_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    dashboard = boards.dashboard_get(project=project, dashboard_id=dashboard_id)
    tile = boards.tile_get(dashboard=dashboard, tile_id=tile_id)
    override, _, _ = range_override(request, project, dashboard)
    return tile_csv_response(project=project, tile=tile, override=override)
