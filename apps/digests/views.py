"""The digest page of a project: the member picks off, daily or weekly, sees the digest as it
would be sent now, and can have one sent right away. Plus the unsubscribe link of the emails,
which works without logging in (its token is signed for one member and one project).

Every member manages their own digest, viewers included: it only reads the project.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.digests.models import Frequency
from apps.digests.selectors import deliveries_for_member, digest_next_send, subscription_frequency, unsubscribe_target
from apps.digests.services import MAIL_ERRORS, digest_preview_html, digest_send_now, subscription_set, subscription_unsubscribe
from apps.projects.accounts import throttle_hit
from apps.projects.selectors import project_get_for_user
from pulseboard.errors import ParamError
from pulseboard.htmx import go, page, vary_on_htmx

PAGE = "digests/page.html"
PARTIAL = "digests/partials/digest_body.html"
# "Send me one now": emails per member and hour.
SEND_NOW_PER_HOUR = 10


class FrequencyForm(forms.Form):
    frequency = forms.ChoiceField(
        label="Email me this project's digest",
        choices=Frequency.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Pick off, daily or weekly.", "invalid_choice": "Pick off, daily or weekly."},
    )


def _settings_url(project_id: int) -> str:
    return reverse("digests-settings", kwargs={"project_id": project_id})


def _preview_frequency(request: HttpRequest, chosen: str) -> str:
    wanted = request.GET.get("preview")
    if wanted in (Frequency.DAILY, Frequency.WEEKLY):
        return wanted
    return chosen if chosen != Frequency.OFF else Frequency.DAILY


def _preview_srcdoc(html: str) -> str:
    """The email's HTML for the page's sandboxed frame: its links open in the whole tab."""
    return html.replace("<head>", '<head><base target="_top">', 1)


@login_required
def digest_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    """GET: the member's choice and a preview. POST: change the choice."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    chosen = subscription_frequency(project=project, user=request.user)
    status = 200
    if request.method == "POST":
        form = FrequencyForm(request.POST)
        if form.is_valid():
            frequency = form.cleaned_data["frequency"]
            subscription_set(project=project, user=request.user, frequency=frequency)
            if frequency == Frequency.OFF:
                messages.success(request, "Digest turned off: you will get no digest of this project.")
            else:
                messages.success(request, f"You will get the {frequency} digest of {project.name} at {_address(request.user)}.")
            return go(request, _settings_url(project.id))
        status = 400
    else:
        form = FrequencyForm(initial={"frequency": chosen})
    deliveries = list(deliveries_for_member(project=project, user=request.user))
    now = datetime.now(timezone.utc)
    tz = ZoneInfo(project.timezone)
    next_send = digest_next_send(
        frequency=chosen, tz=tz, now=now, sent_first_days={d.period_start for d in deliveries if d.frequency == chosen}
    )
    preview = _preview_frequency(request, chosen)
    period, html = digest_preview_html(project=project, user=request.user, frequency=preview, now=now)
    context = {
        "project": project,
        "title": "Digest",
        "form": form,
        "chosen": chosen,
        "preview": preview,
        "period": period,
        "preview_html": _preview_srcdoc(html),
        "send_hour": f"{settings.DIGEST_SEND_HOUR:02d}:00",
        "deliveries": deliveries,
        "next_send": next_send.astimezone(tz) if next_send else None,
        "next_send_now": next_send == now,
        "email": request.user.email,
        "settings_url": _settings_url(project.id),
        "send_url": reverse("digests-send-now", kwargs={"project_id": project.id}),
        "partial": PARTIAL,
    }
    return page(request, PAGE, PARTIAL, context, status=status)


def _address(user) -> str:
    return user.email or "your email address (your account has none yet)"


@login_required
@require_POST
def digest_send_now_view(request: HttpRequest, project_id: int) -> HttpResponse:
    """Email the member the digest of the last complete day or week, now."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    frequency = request.POST.get("frequency") or Frequency.DAILY
    back = _settings_url(project.id) + (f"?preview={frequency}" if frequency in Frequency.values else "")
    if throttle_hit("digest-send-now", str(request.user.pk), SEND_NOW_PER_HOUR):
        messages.error(request, f"You asked for {SEND_NOW_PER_HOUR} digests within the hour: try again later.")
        return go(request, back)
    try:
        address = digest_send_now(project=project, user=request.user, frequency=frequency)
    except ParamError as error:
        messages.error(request, f"Not sent: {error.message}.")
    except MAIL_ERRORS as error:
        messages.error(request, f"Not sent: the mail server refused it ({error}). Check the email settings of this install.")
    else:
        messages.success(request, f"Sent the {frequency} digest to {address}.")
    return go(request, back)


@csrf_exempt  # the token is the authentication; mail clients POST here for one-click unsubscribe
def digest_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what the link turns off, with a button. POST: turn it off (no login needed)."""
    target = unsubscribe_target(token=token)
    if target is None:
        return render(request, "digests/unsubscribe.html", {"invalid": True}, status=404)
    project, user = target
    done = request.method == "POST"
    if done:
        subscription_unsubscribe(project=project, user=user)
    context = {"project": project, "email": user.email, "done": done, "settings_url": _settings_url(project.id)}
    return vary_on_htmx(render(request, "digests/unsubscribe.html", context))
