"""Reads of the digests area: which period a digest covers, what it holds, and who gets it.

A digest's figures are the insight apps' own: the overview cards come from
:func:`apps.analytics.selectors.overview`, the top events from
:func:`apps.analytics.selectors.top_events`, and each saved funnel's conversion from
:func:`apps.funnels.selectors.funnel_results`. The digest only picks the period: the last
complete local day (daily) or Monday-to-Sunday week (weekly) of the project's timezone,
compared with the period of the same length just before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse

from apps.analytics import selectors as analytics
from apps.digests.models import DigestDelivery, DigestSubscription, Frequency
from apps.funnels.selectors import funnel_results, funnels_for_project
from apps.projects.models import Membership, Project
from apps.query.dates import DateRange

TOP_EVENTS = 10
MAX_FUNNELS = 20
UNSUBSCRIBE_SALT = "digests.unsubscribe"
CARDS = (
    ("events", "Events"),
    ("users", "Unique users"),
    ("sessions", "Active session ids"),
    ("events_per_user", "Events per user"),
)


# --- Periods ----------------------------------------------------------------------------------


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


@dataclass(frozen=True)
class Period:
    """The local days ``[first, last]`` (inclusive) a digest covers, in ``tz``."""

    frequency: str
    first: date
    last: date
    tz: ZoneInfo

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def date_range(self) -> DateRange:
        """The period as the insight apps read ranges: whole local days, half-open, in UTC."""
        return DateRange(_midnight(self.first, self.tz), _midnight(self.last + timedelta(days=1), self.tz), "day", self.tz)

    def previous(self) -> "Period":
        step = timedelta(days=self.days)
        return Period(self.frequency, self.first - step, self.last - step, self.tz)

    @property
    def label(self) -> str:
        if self.first == self.last:
            return self.first.strftime("%a %-d %b %Y")
        if self.first.year != self.last.year:
            return f"{self.first:%-d %b %Y} – {self.last:%-d %b %Y}"
        if self.first.month != self.last.month:
            return f"{self.first:%-d %b} – {self.last:%-d %b %Y}"
        return f"{self.first:%-d} – {self.last:%-d %b %Y}"

    @property
    def noun(self) -> str:
        return "day" if self.frequency == Frequency.DAILY else "week"


def digest_period_last(*, frequency: str, tz: ZoneInfo, now: datetime) -> Period:
    """The last complete period at ``now``: yesterday (daily), or last Monday to Sunday
    (weekly), in the local days of ``tz``."""
    today = now.astimezone(tz).date()
    if frequency == Frequency.DAILY:
        yesterday = today - timedelta(days=1)
        return Period(Frequency.DAILY, yesterday, yesterday, tz)
    if frequency == Frequency.WEEKLY:
        monday = today - timedelta(days=today.weekday())
        return Period(Frequency.WEEKLY, monday - timedelta(days=7), monday - timedelta(days=1), tz)
    raise ValueError(f"no period for frequency {frequency!r}")


def digest_period_due(*, frequency: str, tz: ZoneInfo, now: datetime, send_hour: int | None = None) -> Period | None:
    """The period whose digest is due at ``now``, or None.

    A daily digest of a day is due from ``send_hour`` (``DIGEST_SEND_HOUR``, 08:00) local
    time on the next day until that day ends; a weekly one from ``send_hour`` on Monday
    until Monday ends. A period that was missed entirely (nothing ran all that time) is
    not sent later: a digest is news, not an archive."""
    send_hour = settings.DIGEST_SEND_HOUR if send_hour is None else send_hour
    local = now.astimezone(tz)
    if local.hour < send_hour:
        return None
    if frequency == Frequency.WEEKLY and local.weekday() != 0:
        return None
    if frequency not in (Frequency.DAILY, Frequency.WEEKLY):
        return None
    return digest_period_last(frequency=frequency, tz=tz, now=now)


def digest_next_send(*, frequency: str, tz: ZoneInfo, now: datetime, sent_first_days: set[date], send_hour: int | None = None) -> datetime | None:
    """When the next scheduled digest goes out (from this local time on; the hourly run
    sends it within the hour), given the periods already sent (their first days). None
    when the digest is off."""
    if frequency not in (Frequency.DAILY, Frequency.WEEKLY):
        return None
    send_hour = settings.DIGEST_SEND_HOUR if send_hour is None else send_hour
    due = digest_period_due(frequency=frequency, tz=tz, now=now, send_hour=send_hour)
    if due is not None and due.first not in sent_first_days:
        return now
    day = now.astimezone(tz).date()
    step = 1 if frequency == Frequency.DAILY else 7
    if frequency == Frequency.WEEKLY:
        day -= timedelta(days=day.weekday())
    while True:
        moment = datetime.combine(day, time(send_hour), tzinfo=tz)
        if moment > now:
            return moment
        day += timedelta(days=step)


# --- Links ------------------------------------------------------------------------------------


def absolute_url(path: str) -> str:
    """``path`` on the address PulseBoard is opened at (``PULSEBOARD_URL``)."""
    return settings.PULSEBOARD_URL + path


def unsubscribe_token(*, project_id: int, user_id: int) -> str:
    """A signed token that turns off one member's digest of one project, with no login."""
    return signing.dumps({"p": project_id, "u": user_id}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token_read(token: str) -> tuple[int, int] | None:
    """(project id, user id) of a token this install signed; None for any other string."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        return int(data["p"]), int(data["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def unsubscribe_target(*, token: str):
    """(project, user) an unsubscribe token names, or None when it is forged or either is gone."""
    from django.contrib.auth import get_user_model

    found = unsubscribe_token_read(token)
    if found is None:
        return None
    project = Project.objects.filter(id=found[0]).first()
    user = get_user_model().objects.filter(id=found[1]).first()
    return (project, user) if project is not None and user is not None else None


def _project_url(url_name: str, project_id: int, query: dict | None = None, **kwargs) -> str:
    path = reverse(url_name, kwargs={"project_id": project_id, **kwargs})
    return absolute_url(path + (f"?{urlencode(query)}" if query else ""))


# --- The digest -------------------------------------------------------------------------------


def _funnel_rows(*, project: Project, date_range: DateRange, range_query: dict) -> tuple[list[dict], int]:
    """Each saved funnel's conversion over the range (without its breakdown), and how
    many funnels were left out beyond ``MAX_FUNNELS``."""
    funnels = list(funnels_for_project(project=project).prefetch_related("steps")[: MAX_FUNNELS + 1])
    more = max(0, len(funnels) - MAX_FUNNELS)
    rows = []
    for funnel in funnels[:MAX_FUNNELS]:
        url = _project_url("funnels-detail", project.id, range_query, funnel_id=funnel.id)
        try:
            result = funnel_results(project=project, definition=funnel.definition(breakdown=""), date_range=date_range)
        except ValueError:  # a funnel saved with fewer steps than the engine takes
            rows.append({"id": funnel.id, "name": funnel.name, "url": url, "error": "This funnel cannot be computed: edit its steps."})
            continue
        steps = result["steps"]
        rows.append(
            {
                "id": funnel.id,
                "name": funnel.name,
                "url": url,
                "entered": steps[0]["count"],
                "completed": steps[-1]["count"],
                "conversion_pct": steps[-1]["conversion_from_start"],
                "steps": [{"label": step["label"], "count": step["count"]} for step in steps],
            }
        )
    return rows, more


def digest_build(*, project: Project, period: Period) -> dict:
    """What a digest of ``project`` over ``period`` holds: the overview cards against the
    previous period, the top events (count and persons) and each saved funnel's conversion,
    with absolute links back to the pages they come from. The same for every recipient."""
    date_range = period.date_range()
    overview = analytics.overview(project_id=project.id, date_range=date_range, top=TOP_EVENTS)
    figures = overview["cards"]
    cards = [{"key": key, "label": label, **figures[key]} for key, label in CARDS]
    top_events = analytics.top_events(project_id=project.id, date_range=date_range, limit=TOP_EVENTS)
    range_query = date_range.query_params()
    funnels, more_funnels = _funnel_rows(project=project, date_range=date_range, range_query=range_query)
    previous = period.previous()
    return {
        "project": {"id": project.id, "name": project.name, "timezone": project.timezone},
        "frequency": period.frequency,
        "period": {
            "first": period.first.isoformat(),
            "last": period.last.isoformat(),
            "label": period.label,
            "noun": period.noun,
            "previous_label": previous.label,
        },
        "cards": cards,
        "has_events": bool(figures["events"]["value"]),
        "had_events_before": bool(figures["events"]["previous"]),
        "top_events": top_events,
        "funnels": funnels,
        "more_funnels": more_funnels,
        "urls": {
            "overview": _project_url("analytics-overview", project.id, range_query),
            "events": _project_url("analytics-events", project.id),
            "funnels": _project_url("funnels-list", project.id),
            "new_funnel": _project_url("funnels-new", project.id),
            "settings": _project_url("digests-settings", project.id),
        },
    }


# --- Subscriptions and recipients ---------------------------------------------------------------


def subscription_frequency(*, project: Project, user) -> str:
    """The member's choice for ``project``: off when never chosen."""
    row = DigestSubscription.objects.filter(project=project, user=user).values_list("frequency", flat=True).first()
    return row or Frequency.OFF


def deliveries_for_member(*, project: Project, user, limit: int = 10) -> QuerySet[DigestDelivery]:
    return DigestDelivery.objects.filter(project=project, user=user).order_by("-sent_at", "-id")[:limit]


def projects_with_subscribers() -> QuerySet[Project]:
    """Projects where at least one subscription is daily or weekly."""
    subscribed = DigestSubscription.objects.exclude(frequency=Frequency.OFF).values("project_id")
    return Project.objects.filter(id__in=subscribed).order_by("id")


def recipients_pending(*, project: Project, period: Period) -> QuerySet[DigestSubscription]:
    """The subscriptions of ``period``'s frequency whose digest of ``period`` has not gone
    out: active users with an email address who are still members of the project."""
    member = Membership.objects.filter(project_id=OuterRef("project_id"), user_id=OuterRef("user_id"))
    sent = DigestDelivery.objects.filter(
        project_id=OuterRef("project_id"), user_id=OuterRef("user_id"), frequency=period.frequency, period_start=period.first
    )
    return (
        DigestSubscription.objects.filter(project=project, frequency=period.frequency, user__is_active=True)
        .exclude(user__email="")
        .filter(Exists(member))
        .exclude(Exists(sent))
        .select_related("user")
        .order_by("id")
    )
