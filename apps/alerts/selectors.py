"""Reads of alerts: the project's alerts, one alert, its history, the figure an alert judges,
and its webhook signing secret.

The figure is the trends insight's own (:func:`apps.analytics.selectors.trends`), over two
buckets of the alert's interval in the project's timezone: the last complete bucket and the
one before it (for a change against the previous period). The bucket in progress is never
read. Alerts that read the same series over the same buckets share one trends call, and
series without filters share its queries (:func:`figures_compute`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from apps.alerts.models import Alert, AlertDelivery, AlertEvent
from apps.analytics.params import Series
from apps.analytics.selectors import trends
from apps.projects.models import Project
from apps.projects.selectors import Access, role_allows
from apps.query.dates import DateRange, floor_local, next_bucket
from apps.query.filters import PropertyFilter, property_filters_clean
from pulseboard.errors import NotFound

SIGNATURE_HEADER = "X-PulseBoard-Signature"
TIMESTAMP_HEADER = "X-PulseBoard-Timestamp"


# --- Alerts -----------------------------------------------------------------------------------


def alerts_for_project(*, project: Project) -> QuerySet[Alert]:
    return Alert.objects.filter(project=project).prefetch_related("recipients").order_by("name", "id")


def alert_get(*, project: Project, alert_id: int) -> Alert:
    """One alert of the project; NotFound for any other id (another project's too)."""
    if not 0 < int(alert_id) < 2**63:
        raise NotFound("No such alert.")
    alert = Alert.objects.filter(project=project, id=alert_id).prefetch_related("recipients").first()
    if alert is None:
        raise NotFound("No such alert.")
    return alert


def alert_history(*, alert: Alert, limit: int = 50) -> list[AlertEvent]:
    """The newest ``limit`` lines of the alert's history, each with its deliveries."""
    events = alert.history.prefetch_related(Prefetch("deliveries", queryset=AlertDelivery.objects.order_by("id")))
    return list(events.order_by("-created_at", "-id")[:limit])


def alert_can_see_secret(*, alert: Alert, user, role: str) -> bool:
    """The webhook's signing secret is shown to the project's owners and the alert's author."""
    return role_allows(role, Access.OWN) or (alert.created_by_id is not None and alert.created_by_id == user.pk)


def alerts_due(*, now: datetime) -> QuerySet[Alert]:
    """Enabled alerts whose next evaluation is due (or that were never evaluated)."""
    return Alert.objects.filter(enabled=True).filter(Q(next_evaluation_at__isnull=True) | Q(next_evaluation_at__lte=now)).select_related("project")


# --- The webhook's signing secret ---------------------------------------------------------------


def webhook_secret(*, alert: Alert) -> str:
    """The secret that signs the alert's webhook: an HMAC of SECRET_KEY over the alert's id and
    its rotation nonce. It is never stored (it must sign, so it cannot be kept hashed);
    rotating the nonce gives a new one."""
    message = f"alert-webhook:{alert.id}:{alert.webhook_nonce}".encode()
    return "whsec_" + hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature(*, secret: str, body: bytes) -> str:
    """The ``X-PulseBoard-Signature`` header of ``body``: ``sha256=`` and the hex HMAC-SHA256
    of the raw body under the alert's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- The figure an alert judges -----------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The last complete bucket of an interval and the one before it, in a timezone."""

    interval: str
    tz: ZoneInfo
    previous_start: datetime
    start: datetime
    end: datetime  # the start of the bucket in progress

    @property
    def date_range(self) -> DateRange:
        return DateRange(self.previous_start, self.end, self.interval, self.tz)


def window_at(*, now: datetime, interval: str, tz_name: str) -> Window:
    """The buckets an alert judges at ``now``: the bucket in progress is left out."""
    tz = ZoneInfo(tz_name)
    end = floor_local(now, interval, tz)
    start = floor_local(end - timedelta(microseconds=1), interval, tz)
    previous = floor_local(start - timedelta(microseconds=1), interval, tz)
    assert next_bucket(start, interval, tz) == end
    return Window(interval=interval, tz=tz, previous_start=previous, start=start, end=end)


@dataclass(frozen=True)
class SeriesKey:
    event: str
    math: str
    filters: tuple[PropertyFilter, ...]


@dataclass(frozen=True)
class Figure:
    """What an alert judges: the value of the last complete bucket and of the one before.
    A ratio whose denominator is 0 has no value (None)."""

    value: float | None
    previous: float | None
    window: Window


def _series_keys(alert: Alert) -> list[SeriesKey]:
    keys = [SeriesKey(alert.event, alert.math, tuple(property_filters_clean(alert.filters or [])))]
    if alert.is_ratio:
        keys.append(SeriesKey(alert.denominator_event, alert.denominator_math, tuple(property_filters_clean(alert.denominator_filters or []))))
    return keys


def _ratio(numerator: float, denominator: float | None) -> float | None:
    if denominator is None:
        return numerator
    return numerator / denominator if denominator else None


def figures_compute(*, alerts: list[Alert], now: datetime) -> dict[int, Figure]:
    """The figure of each alert at ``now``, by alert id.

    Alerts are grouped by project, window (interval and timezone) and filters: each group is
    one call of the trends insight with every series of the group, so that the series
    without filters of a project and interval share its rollup queries, and alerts that
    watch the same series read it once."""
    groups: dict[tuple, set[SeriesKey]] = {}
    windows: dict[int, Window] = {}
    for alert in alerts:
        window = window_at(now=now, interval=alert.interval, tz_name=alert.project.timezone)
        windows[alert.id] = window
        for key in _series_keys(alert):
            groups.setdefault((alert.project_id, window, key.filters), set()).add(key)
    values: dict[tuple, list[int]] = {}
    for (project_id, window, filters), keys in groups.items():
        ordered = sorted(keys, key=lambda k: (k.event, k.math))
        answer = trends(
            project_id=project_id,
            date_range=window.date_range,
            series=[Series(event=k.event, math=k.math) for k in ordered],
            filters=list(filters),
        )
        for key, line in zip(ordered, answer["series"]):
            values[(project_id, window, key)] = line["data"]
    figures: dict[int, Figure] = {}
    for alert in alerts:
        window = windows[alert.id]
        data = [values[(alert.project_id, window, key)] for key in _series_keys(alert)]
        numerator = data[0]
        denominator = data[1] if len(data) > 1 else [None, None]
        figures[alert.id] = Figure(
            value=_ratio(numerator[-1], denominator[-1]),
            previous=_ratio(numerator[0], denominator[0]),
            window=window,
        )
    return figures


def change_percent(*, value: float | None, previous: float | None) -> float | None:
    """The change of ``value`` against ``previous`` in percent. From 0 to 0 is 0 %; from 0 to
    anything else is an infinite change (``inf``, or ``-inf``); None when either is None."""
    if value is None or previous is None:
        return None
    if previous == 0:
        return 0.0 if value == 0 else (float("inf") if value > 0 else float("-inf"))
    return (value - previous) / abs(previous) * 100.0
