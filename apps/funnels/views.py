"""Dashboard pages of funnels: the list, the editor (new, edit, run without saving), the
results and the delete confirmation.

Every page renders whole on a normal request and only its partial (the inside of
``#page-body``) on an HTMX one. The editor posts to the page's own URL; its "+ add step",
move and remove buttons post back and get the editor again with the rows changed (no
client-side state). Results come from the same selector as the API, so the numbers match.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from apps.funnels import selectors, services
from apps.funnels.engine import MAX_STEPS
from apps.funnels.forms import MODE_HELP, FunnelForm, StepForm, StepFormSet
from apps.funnels.insights import funnel_insight, results_context
from apps.funnels.models import Funnel, definition_build
from apps.ingest.selectors import event_names_by_volume
from apps.projects.models import Project
from apps.projects.selectors import Access, project_get_for_user
from apps.query.dates import PRESETS, date_controls, date_range_resolve
from pulseboard.errors import ParamError
from pulseboard.htmx import go, page

NEW_FUNNEL_ROWS = 3
ADHOC_DEFAULT_RANGE = "30d"
PAGE = "funnels/page.html"


def _render(request: HttpRequest, partial: str, context: dict, status: int = 200) -> HttpResponse:
    return page(request, PAGE, partial, {**context, "partial": partial}, status=status)


def _urls(project: Project, funnel: Funnel | None = None) -> dict[str, str]:
    urls = {
        "list_url": reverse("funnels-list", kwargs={"project_id": project.id}),
        "new_url": reverse("funnels-new", kwargs={"project_id": project.id}),
        "adhoc_url": reverse("funnels-adhoc", kwargs={"project_id": project.id}),
    }
    if funnel is not None and funnel.pk:
        kwargs = {"project_id": project.id, "funnel_id": funnel.id}
        urls.update(
            detail_url=reverse("funnels-detail", kwargs=kwargs),
            edit_url=reverse("funnels-edit", kwargs=kwargs),
            delete_url=reverse("funnels-delete", kwargs=kwargs),
        )
    return urls


# --- List -----------------------------------------------------------------------------------


@login_required
def funnel_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    funnels = list(selectors.funnels_for_project(project=project))
    now = timezone.now()
    for funnel in funnels:
        funnel.urls = _urls(project, funnel)
        funnel.updated_label = "just now" if (now - funnel.updated_at).total_seconds() < 60 else f"{timesince(funnel.updated_at, now, depth=1)} ago"
    context = {"project": project, "title": "Funnels", "funnels": funnels, **_urls(project)}
    return _render(request, "funnels/partials/list_body.html", context)


# --- Editor -----------------------------------------------------------------------------------


def _move(rows: list[dict], action: str) -> list[dict]:
    """Apply a row button of the editor: "add", "remove:<i>", "up:<i>" or "down:<i>"."""
    if action == "add":
        return rows + [{}] if len(rows) <= MAX_STEPS else rows
    verb, _, index = action.partition(":")
    try:
        i = int(index)
    except ValueError:
        return rows
    if not 0 <= i < len(rows):
        return rows
    rows = list(rows)
    if verb == "remove":
        rows.pop(i)
        return rows or [{}]
    j = i - 1 if verb == "up" else i + 1 if verb == "down" else None
    if j is not None and 0 <= j < len(rows):
        rows[i], rows[j] = rows[j], rows[i]
    return rows


def _editor_context(
    request: HttpRequest, project: Project, funnel: Funnel | None, form: FunnelForm, formset, **extra
) -> dict[str, Any]:
    urls = _urls(project, funnel)
    return {
        "project": project,
        "funnel": funnel,
        "title": f"Edit {funnel.name}" if funnel else "New funnel",
        "form": form,
        "formset": formset,
        "save_url": urls["edit_url"] if funnel else urls["new_url"],
        "cancel_url": urls["detail_url"] if funnel else urls["list_url"],
        "event_names": event_names_by_volume(project_id=project.id),
        "mode_help": MODE_HELP,
        "max_steps": MAX_STEPS,
        "presets": [(value, label) for value, (label, _) in PRESETS.items()],
        "adhoc_range": request.POST.get("adhoc_range") or ADHOC_DEFAULT_RANGE,
        "adhoc": None,
        **urls,
        **extra,
    }


def _spare_row(rows: list[dict]) -> list[dict]:
    """The rows plus one empty row at the end (unless there are MAX_STEPS already)."""
    return rows + [{}] if len(rows) < MAX_STEPS else rows


def _focus_first_error(form: FunnelForm) -> None:
    """The first field of the settings with an error gets the focus (htmx honours autofocus
    in what it swaps in), which brings it into view."""
    for name, field in form.fields.items():
        if name in form.errors:
            field.widget.attrs["autofocus"] = True
            return


def _editor(request: HttpRequest, project: Project, funnel: Funnel | None) -> HttpResponse:
    """GET: the editor filled with the funnel (or empty rows). POST: a row button, or save."""
    if request.method != "POST":
        if funnel is None:
            form, rows = FunnelForm(), [{} for _ in range(NEW_FUNNEL_ROWS)]
        else:
            form = FunnelForm(initial=FunnelForm.initial_for(funnel))
            rows = _spare_row([StepForm.initial_for({"event": s.event, "label": s.label, "filters": s.filters}) for s in funnel.steps.all()])
        formset = StepFormSet(initial=rows, prefix="steps")
        return _render(request, "funnels/partials/editor_body.html", _editor_context(request, project, funnel, form, formset))

    form = FunnelForm(request.POST)
    formset = StepFormSet(request.POST, prefix="steps")
    action = request.POST.get("row_action")
    if action:  # a row button: show the editor again with the rows changed, no errors yet
        rows = _move(formset.raw_rows(), action)
        form = FunnelForm(initial={name: form[name].value() for name in form.fields})
        formset = StepFormSet(initial=rows, prefix="steps")
        return _render(request, "funnels/partials/editor_body.html", _editor_context(request, project, funnel, form, formset))

    if form.is_valid() & formset.is_valid():
        fields = {**form.cleaned_data, "steps": formset.steps()}
        try:
            if funnel is None:
                funnel = services.funnel_create(project=project, created_by=request.user, **fields)
                messages.success(request, f"Funnel “{funnel.name}” created.")
            else:
                funnel = services.funnel_update(funnel=funnel, **fields)
                messages.success(request, f"Funnel “{funnel.name}” saved.")
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return go(request, _urls(project, funnel)["detail_url"])
    _focus_first_error(form)
    return _render(request, "funnels/partials/editor_body.html", _editor_context(request, project, funnel, form, formset))


@login_required
def funnel_new(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    return _editor(request, project, None)


@login_required
def funnel_edit(request: HttpRequest, project_id: int, funnel_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    funnel = selectors.funnel_get(project=project, funnel_id=funnel_id)
    return _editor(request, project, funnel)


@login_required
@require_POST
def funnel_adhoc(request: HttpRequest, project_id: int) -> HttpResponse:
    """"Run without saving": the editor as posted, with the results of its definition below."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    editing = request.POST.get("editing", "")
    funnel = selectors.funnel_get(project=project, funnel_id=int(editing)) if editing.isdigit() else None
    form = FunnelForm(request.POST)
    form.fields["name"].required = False  # a run needs no name; saving does
    formset = StepFormSet(request.POST, prefix="steps")
    adhoc = None
    if form.is_valid() & formset.is_valid():
        data = form.cleaned_data
        definition = definition_build(
            steps=formset.steps(),
            window_value=data["window_value"],
            window_unit=data["window_unit"],
            order_mode=data["order_mode"],
            breakdown_property=data["breakdown_property"],
            breakdown_type=data.get("breakdown_type") or "event",
        )
        preset = request.POST.get("adhoc_range")
        date_range = date_range_resolve(
            params={"range": preset if preset in PRESETS else ADHOC_DEFAULT_RANGE}, tz_name=project.timezone
        )
        results = selectors.funnel_results(project=project, definition=definition, date_range=date_range)
        adhoc = {**results_context(results, chart_id="adhoc-chart"), "range_label": PRESETS[date_range.preset][0]}
    context = _editor_context(request, project, funnel, form, formset, adhoc=adhoc)
    return _render(request, "funnels/partials/editor_body.html", context)


# --- Results ----------------------------------------------------------------------------------


@login_required
def funnel_detail(request: HttpRequest, project_id: int, funnel_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    funnel = selectors.funnel_get(project=project, funnel_id=funnel_id)
    context = {"project": project, "funnel": funnel, "title": funnel.name, **_urls(project, funnel)}
    try:
        insight = funnel_insight(project, request.GET, funnel=funnel, chart_id="funnel-chart")
    except ParamError as error:
        return _render(request, "query/partials/param_error.html", {**context, "error": error}, status=400)
    date_range, definition, results = insight["date_range"], insight["definition"], insight["results"]
    context.update(
        r=insight["r"],
        date_controls=date_controls(params=request.GET, date_range=date_range, intervals=(), keep=("breakdown", "breakdown_type", "insight")),
        range_hidden=[(k, v) for k, v in date_range.query_params().items() if k != "interval"],
        breakdown=results["breakdown"] or "",
        breakdown_type=definition.breakdown_type,
        steps=list(funnel.steps.all()),
    )
    return _render(request, "funnels/partials/detail_body.html", context)


# --- Delete -----------------------------------------------------------------------------------


@login_required
def funnel_delete(request: HttpRequest, project_id: int, funnel_id: int) -> HttpResponse:
    """GET: a confirmation page. POST: delete, then back to the list."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    funnel = selectors.funnel_get(project=project, funnel_id=funnel_id)
    urls = _urls(project, funnel)
    if request.method == "POST":
        name = funnel.name
        services.funnel_delete(funnel=funnel)
        messages.success(request, f"Funnel “{name}” deleted.")
        return go(request, urls["list_url"])
    context = {"project": project, "funnel": funnel, "title": f"Delete {funnel.name}", **urls}
    return _render(request, "funnels/partials/delete_body.html", context)
