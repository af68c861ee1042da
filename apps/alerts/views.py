"""The alerts pages: the list (state, last value, last evaluation), the form to create and
edit one, and each alert's page with its history, its webhook secret (for project owners
and its author), snoozing and a "Send test notification" button.

Viewers see everything but the secret; members and owners create, edit, snooze, test and
delete. Each page renders whole on a normal request and only its partial on an HTMX one.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.alerts.forms import AlertForm, SnoozeForm
from apps.alerts.models import Alert
from apps.alerts.selectors import SIGNATURE_HEADER, TIMESTAMP_HEADER, alert_can_see_secret, alert_get, alert_history, alerts_for_project, webhook_secret
from apps.alerts.services import (
    alert_create,
    alert_delete,
    alert_is_snoozed,
    alert_secret_rotate,
    alert_snooze,
    alert_test_notify,
    alert_update,
    figure_label,
)
from apps.ingest.models import EventDefinition
from apps.projects.models import Project
from apps.projects.selectors import Access, project_get_for_user
from pulseboard.errors import Forbidden
from pulseboard.htmx import go, page

PAGE = "alerts/page.html"
SECRET_DENIED = "Only a project owner or the alert's author can see or rotate its signing secret."


def _list_url(project: Project) -> str:
    return reverse("alerts-list", kwargs={"project_id": project.id})


def _detail_url(alert: Alert) -> str:
    return reverse("alerts-detail", kwargs={"project_id": alert.project_id, "alert_id": alert.id})


def _row(alert: Alert, tz: ZoneInfo, now) -> dict:
    return {
        "alert": alert,
        "figure": figure_label(alert),
        "url": _detail_url(alert),
        "snoozed": alert_is_snoozed(alert=alert, now=now),
        "last_evaluated": alert.last_evaluated_at.astimezone(tz) if alert.last_evaluated_at else None,
        "last_bucket": alert.last_bucket.astimezone(tz) if alert.last_bucket else None,
    }


def _render(request: HttpRequest, partial: str, context: dict, status: int = 200) -> HttpResponse:
    return page(request, PAGE, partial, {**context, "partial": partial}, status=status)


@login_required
def alert_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    tz, now = ZoneInfo(project.timezone), timezone.now()
    rows = [_row(alert, tz, now) for alert in alerts_for_project(project=project)]
    context = {
        "project": project,
        "title": "Alerts",
        "rows": rows,
        "firing": sum(1 for r in rows if r["alert"].state == Alert.State.FIRING),
        "new_url": reverse("alerts-new", kwargs={"project_id": project.id}),
        "trends_url": reverse("analytics-trends", kwargs={"project_id": project.id}),
    }
    return _render(request, "alerts/partials/list_body.html", context)


def _form_page(request: HttpRequest, project: Project, form: AlertForm, alert: Alert | None, status: int = 200) -> HttpResponse:
    names = EventDefinition.objects.filter(project=project, hidden=False).order_by("name").values_list("name", flat=True)[:500]
    context = {
        "project": project,
        "title": f"Edit {alert.name}" if alert else "New alert",
        "form": form,
        "alert": alert,
        "event_names": list(names),
        "series_filters": form.filters_of("filters"),
        "denominator_filters": form.filters_of("denominator_filters"),
        "operators": form.operators,
        "list_url": _list_url(project),
        "cancel_url": _detail_url(alert) if alert else _list_url(project),
        "action_url": reverse("alerts-edit", kwargs={"project_id": project.id, "alert_id": alert.id}) if alert else reverse("alerts-new", kwargs={"project_id": project.id}),
    }
    return _render(request, "alerts/partials/form_body.html", context, status=status)


@login_required
def alert_new(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    if request.method == "POST":
        form = AlertForm(request.POST, project=project)
        if form.is_valid():
            alert = alert_create(project=project, user=request.user, data=form.cleaned_input)
            messages.success(request, f"Alert “{alert.name}” created: it is evaluated within a minute, then every {alert.every_minutes} min.")
            return go(request, _detail_url(alert))
        return _form_page(request, project, form, None, status=400)
    initial = {"every_minutes": "5", "enabled": True, "interval": "hour", "recipients": [str(request.user.pk)]}
    if request.GET.get("event"):
        initial["event"] = request.GET["event"][:200]
    return _form_page(request, project, AlertForm(initial=initial, project=project), None)


@login_required
def alert_edit(request: HttpRequest, project_id: int, alert_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    alert = alert_get(project=project, alert_id=alert_id)
    if request.method == "POST":
        form = AlertForm(request.POST, project=project, alert=alert)
        if form.is_valid():
            alert_update(alert=alert, data=form.cleaned_input)
            messages.success(request, "Alert saved.")
            return go(request, _detail_url(alert))
        return _form_page(request, project, form, alert, status=400)
    return _form_page(request, project, AlertForm(initial=AlertForm.initial_of(alert), project=project, alert=alert), alert)


@login_required
def alert_detail(request: HttpRequest, project_id: int, alert_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    alert = alert_get(project=project, alert_id=alert_id)
    tz, now = ZoneInfo(project.timezone), timezone.now()
    kwargs = {"project_id": project.id, "alert_id": alert.id}
    history = alert_history(alert=alert)
    context = {
        "project": project,
        "title": alert.name,
        "row": _row(alert, tz, now),
        "alert": alert,
        "history": [{"event": e, "at": e.created_at.astimezone(tz), "bucket": e.bucket.astimezone(tz) if e.bucket else None} for e in history],
        "recipients": list(alert.recipients.all()),
        "snoozed_until": alert.snoozed_until.astimezone(tz) if alert_is_snoozed(alert=alert, now=now) else None,
        "snooze_form": SnoozeForm(),
        "can_see_secret": alert_can_see_secret(alert=alert, user=request.user, role=project.role),
        "secret": webhook_secret(alert=alert) if alert.webhook_url and alert_can_see_secret(alert=alert, user=request.user, role=project.role) else None,
        "signature_header": SIGNATURE_HEADER,
        "timestamp_header": TIMESTAMP_HEADER,
        "list_url": _list_url(project),
        "edit_url": reverse("alerts-edit", kwargs=kwargs),
        "delete_url": reverse("alerts-delete", kwargs=kwargs),
        "test_url": reverse("alerts-test", kwargs=kwargs),
        "snooze_url": reverse("alerts-snooze", kwargs=kwargs),
        "rotate_url": reverse("alerts-rotate", kwargs=kwargs),
        "api_url": reverse("api-alert", kwargs=kwargs),
    }
    return _render(request, "alerts/partials/detail_body.html", context)


@login_required
@require_POST
def alert_test(request: HttpRequest, project_id: int, alert_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    alert = alert_get(project=project, alert_id=alert_id)
    event = alert_test_notify(alert=alert)
    channels = [d.get_channel_display().lower() for d in event.deliveries.all()]
    if channels:
        messages.success(request, f"Test notification queued ({' and '.join(channels)}): its outcome shows in the history below.")
    else:
        messages.warning(request, "This alert has no channel yet: choose email recipients or a webhook URL, then send a test.")
    return go(request, _detail_url(alert))


@login_required
@require_POST
def alert_snooze_view(request: HttpRequest, project_id: int, alert_id: int) -> HttpResponse:
    """Snooze for the chosen hours, or ``unsnooze=1`` to hear of it again now."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    alert = alert_get(project=project, alert_id=alert_id)
    if request.POST.get("unsnooze"):
        alert_snooze(alert=alert, until=None)
        messages.success(request, "Snooze ended: the next change of state is notified.")
        return go(request, _detail_url(alert))
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick how long to snooze the alert.")
        return go(request, _detail_url(alert))
    until = timezone.now() + timedelta(hours=int(form.cleaned_data["hours"]))
    alert_snooze(alert=alert, until=until)
    local = until.astimezone(ZoneInfo(project.timezone))
    messages.success(request, f"Snoozed until {local:%Y-%m-%d %H:%M} ({project.timezone}): it is still evaluated, nobody is notified.")
    return go(request, _detail_url(alert))


@login_required
@require_POST
def alert_rotate(request: HttpRequest, project_id: int, alert_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    alert = alert_get(project=project, alert_id=alert_id)
    if not alert_can_see_secret(alert=alert, user=request.user, role=project.role):
        raise Forbidden(SECRET_DENIED)
    alert_secret_rotate(alert=alert)
    messages.success(request, "New signing secret: update your receiver. The old one no longer signs.")
    return go(request, _detail_url(alert))


@login_required
@require_POST
def alert_delete_view(request: HttpRequest, project_id: int, alert_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    alert = alert_get(project=project, alert_id=alert_id)
    name = alert.name
    alert_delete(alert=alert)
    messages.success(request, f"Alert “{name}” deleted.")
    return go(request, _list_url(project))
