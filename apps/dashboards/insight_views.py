"""Pages of saved insights: the list, saving from an insight page, opening, updating,
renaming, duplicating and deleting.

Every page renders whole on a normal request and only its partial on an HTMX one. The
insight pages' Save button (``{% insight_save_bar %}``, :mod:`apps.dashboards.templatetags.saved_insights`)
posts here; with HTMX it gets back a confirmation (or the form with its errors) in place,
without it a redirect to the saved insight's page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from apps.dashboards import insights as service
from apps.dashboards import registry
from apps.dashboards.forms import InsightFilterForm, InsightNameForm, InsightSaveForm
from apps.dashboards.models import SavedInsight
from apps.projects.models import Project
from apps.projects.selectors import Access, project_get_for_user
from pulseboard.errors import NotFound, ParamError
from pulseboard.htmx import go, page, vary_on_htmx, wants_partial

PAGE = "dashboards/insights/page.html"
PER_PAGE = 25


def _render(request: HttpRequest, partial: str, context: dict, status: int = 200) -> HttpResponse:
    return page(request, PAGE, partial, {**context, "partial": partial}, status=status)


def _ago(moment, now) -> str:
    if moment is None:
        return "never"
    return "just now" if (now - moment).total_seconds() < 60 else f"{timesince(moment, now, depth=1)} ago"


def insight_urls(project: Project, insight: SavedInsight) -> dict[str, str]:
    kwargs = {"project_id": project.id, "insight_id": insight.id}
    return {
        "open_url": reverse("insights-open", kwargs=kwargs),
        "rename_url": reverse("insights-rename", kwargs=kwargs),
        "duplicate_url": reverse("insights-duplicate", kwargs=kwargs),
        "delete_url": reverse("insights-delete", kwargs=kwargs),
        "update_url": reverse("insights-update", kwargs=kwargs),
    }


def _list_url(project: Project) -> str:
    return reverse("insights-list", kwargs={"project_id": project.id})


def save_bar_context(*, project: Project, kind: str, query: str, can_edit: bool, insight: SavedInsight | None, **extra) -> dict:
    """The context of ``dashboards/insights/partials/save_bar.html``: the page's ``kind`` and
    its current ``query`` string, and the saved insight it shows, if any."""
    context = {
        "project": project,
        "kind": kind,
        "query": query,
        "can_edit": can_edit,
        "insight": insight,
        "new_url": reverse("insights-new", kwargs={"project_id": project.id}),
        "list_url": _list_url(project),
        **extra,
    }
    if insight is not None:
        context.update(insight_urls(project, insight))
    return context


# --- List -------------------------------------------------------------------------------------


@login_required
def insight_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    form = InsightFilterForm(request.GET, creators=service.insight_creators(project=project))
    filters = form.filters()
    insights = service.insights_for_project(project=project, **filters)
    paginator = Paginator(insights, PER_PAGE)
    page_obj = paginator.get_page(request.GET.get("page"))
    now = timezone.now()
    rows = []
    for insight in page_obj.object_list:
        kind = registry.REGISTRY.get(insight.kind)
        rows.append(
            {
                "insight": insight,
                "label": kind.label if kind else insight.kind,
                "icon": kind.icon if kind else "alert",
                "updated": _ago(insight.updated_at, now),
                "viewed": _ago(insight.last_viewed_at, now),
                **insight_urls(project, insight),
            }
        )
    keep = request.GET.copy()
    keep.pop("page", None)
    filtered = any(filters.values())
    context = {
        "project": project,
        "title": "Saved insights",
        "form": form,
        "rows": rows,
        "page_obj": page_obj,
        "paginator": paginator,
        "page_query": keep.urlencode(),
        "filtered": filtered,
        "total": paginator.count,
        "list_url": _list_url(project),
        "start_links": [
            (t.label, t.icon, reverse(t.url_name, kwargs={"project_id": project.id}))
            for t in registry.REGISTRY.values()
            if t.kind != "funnel"
        ]
        + [("Funnel", "funnels", reverse("funnels-list", kwargs={"project_id": project.id}))],
    }
    return _render(request, "dashboards/insights/list_body.html", context)


# --- Save from a page -------------------------------------------------------------------------


def _save_context(request: HttpRequest, project: Project, form: InsightSaveForm, **extra) -> dict:
    return {
        "project": project,
        "title": "Save insight",
        "form": form,
        "new_url": reverse("insights-new", kwargs={"project_id": project.id}),
        "list_url": _list_url(project),
        **extra,
    }


@login_required
def insight_new(request: HttpRequest, project_id: int) -> HttpResponse:
    """GET: the save form for ``kind`` and ``query`` (a query string). POST: save it."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    if request.method != "POST":
        form = InsightSaveForm(initial={"kind": request.GET.get("kind", ""), "query": request.GET.get("query", "")})
        return _render(request, "dashboards/insights/new_body.html", _save_context(request, project, form))
    form = InsightSaveForm(request.POST)
    partial = "dashboards/insights/partials/save_form.html"
    if form.is_valid():
        data = form.cleaned_data
        try:
            insight = service.insight_create(
                project=project,
                kind=data["kind"],
                name=data["name"],
                description=data["description"],
                query=data["query"],
                created_by=request.user,
            )
        except ParamError as error:
            if error.field in ("name", "description"):
                form.add_error(error.field, error.message)
            else:  # the page's query (or kind): the page itself shows what is wrong
                form.add_error(None, f"This page's settings can't be saved ({error.message}). Fix them on the page, then save.")
        else:
            url = registry.insight_url(insight)
            if wants_partial(request):
                context = {"project": project, "insight": insight, "insight_page_url": url, "list_url": _list_url(project), **insight_urls(project, insight)}
                return vary_on_htmx(render(request, "dashboards/insights/partials/saved.html", context))
            messages.success(request, f"Insight “{insight.name}” saved.")
            return go(request, url)
    if wants_partial(request):
        context = {"project": project, "form": form, "kind": request.POST.get("kind", ""), "query": request.POST.get("query", ""),
                   "new_url": reverse("insights-new", kwargs={"project_id": project.id}), "list_url": _list_url(project), "open": True}
        return vary_on_htmx(render(request, partial, context, status=400))
    return _render(request, "dashboards/insights/new_body.html", _save_context(request, project, form), status=400)


# --- One insight ------------------------------------------------------------------------------


@login_required
def insight_open(request: HttpRequest, project_id: int, insight_id: int) -> HttpResponse:
    """Open a saved insight: mark it viewed, then go to its page with its query."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    insight = service.insight_get(project=project, insight_id=insight_id)
    service.insight_viewed(insight=insight)
    try:
        url = registry.insight_url(insight)
    except NotFound:  # an unknown kind: back to the list, saying so
        messages.error(request, f"“{insight.name}” is of a type this version cannot open ({insight.kind}).")
        return go(request, _list_url(project))
    return go(request, url)


@login_required
@require_POST
def insight_update(request: HttpRequest, project_id: int, insight_id: int) -> HttpResponse:
    """Save the page's current query (``query``, a query string) into the insight."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    insight = service.insight_get(project=project, insight_id=insight_id)
    error = None
    try:
        service.insight_update(insight=insight, query=QueryDict(request.POST.get("query", "")))
    except ParamError as exc:
        error = exc
    if wants_partial(request):
        context = save_bar_context(
            project=project, kind=insight.kind, query=request.POST.get("query", ""), can_edit=True, insight=insight,
            updated=error is None, error=error,
        )
        return vary_on_htmx(render(request, "dashboards/insights/partials/save_bar.html", context, status=400 if error else 200))
    if error is not None:
        messages.error(request, f"Not updated: {error.message}")
    else:
        messages.success(request, f"Insight “{insight.name}” updated.")
    return go(request, registry.insight_url(insight))


@login_required
def insight_rename(request: HttpRequest, project_id: int, insight_id: int) -> HttpResponse:
    """GET: the name and description form. POST: save them, then back to the list."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    insight = service.insight_get(project=project, insight_id=insight_id)
    status = 200
    if request.method == "POST":
        form = InsightNameForm(request.POST)
        if form.is_valid():
            try:
                service.insight_update(insight=insight, name=form.cleaned_data["name"], description=form.cleaned_data["description"])
            except ParamError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, f"Insight renamed to “{insight.name}”.")
                return go(request, request.POST.get("next") if _safe_next(request, project) else _list_url(project))
        status = 400
    else:
        form = InsightNameForm(initial={"name": insight.name, "description": insight.description})
    context = {"project": project, "title": f"Rename {insight.name}", "insight": insight, "form": form,
               "list_url": _list_url(project), "next": request.GET.get("next", ""), **insight_urls(project, insight)}
    return _render(request, "dashboards/insights/rename_body.html", context, status=status)


def _safe_next(request: HttpRequest, project: Project) -> bool:
    """Only a path of this project's saved insights list may be the place to go back to."""
    value = request.POST.get("next", "")
    return value.startswith(_list_url(project)) and "//" not in value


@login_required
@require_POST
def insight_duplicate(request: HttpRequest, project_id: int, insight_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    insight = service.insight_get(project=project, insight_id=insight_id)
    copy = service.insight_duplicate(insight=insight, created_by=request.user)
    messages.success(request, f"Duplicated as “{copy.name}”.")
    return go(request, _list_url(project))


@login_required
def insight_delete(request: HttpRequest, project_id: int, insight_id: int) -> HttpResponse:
    """GET: a confirmation page (saying which dashboards lose a tile). POST: delete."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    insight = service.insight_get(project=project, insight_id=insight_id)
    if request.method == "POST":
        name = insight.name
        service.insight_delete(insight=insight)
        messages.success(request, f"Insight “{name}” deleted.")
        return go(request, _list_url(project))
    dashboards = sorted({tile.dashboard.name for tile in insight.tiles.select_related("dashboard")})
    context = {"project": project, "title": f"Delete {insight.name}", "insight": insight, "dashboards": dashboards,
               "list_url": _list_url(project), **insight_urls(project, insight)}
    return _render(request, "dashboards/insights/delete_body.html", context)


# --- Funnels: the page of a funnel insight ----------------------------------------------------


@login_required
def insight_funnel(request: HttpRequest, project_id: int) -> HttpResponse:
    """The page of a ``funnel`` insight (its ``url_name``): the saved funnel ``funnel_id``
    names, with the rest of the query. A missing or foreign funnel goes to the funnels list."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    params = request.GET.copy()
    funnel_id = params.pop("funnel_id", [""])[-1]
    if not funnel_id.isdigit():
        messages.error(request, "That funnel insight names no funnel.")
        return go(request, reverse("funnels-list", kwargs={"project_id": project.id}))
    url = reverse("funnels-detail", kwargs={"project_id": project.id, "funnel_id": int(funnel_id)})
    query = urlencode(list(params.lists()), doseq=True)
    return go(request, url + ("?" + query if query else ""))
