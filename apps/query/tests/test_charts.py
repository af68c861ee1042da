"""Time-series charts: which bucket is not over yet, and what the apps above add."""

from datetime import datetime, timedelta, timezone

import time_machine

from apps.query.charts import partial_from, time_chart_finish
from apps.query.dates import date_range_resolve
from conftest import ProjectFactory

NOW = datetime.now(timezone.utc).replace(hour=15, minute=20, second=0, microsecond=0) - timedelta(days=3)


def resolved(params: dict, tz: str = "UTC"):
    return date_range_resolve(params=params, tz_name=tz, now=NOW)


def test_the_bucket_holding_the_present_and_those_after_it_are_not_over():
    with time_machine.travel(NOW, tick=False):
        assert partial_from(resolved({"range": "7d"})) == 6  # today, the last day
        assert partial_from(resolved({"range": "24h"})) == 23  # this hour
        day = NOW.date()
        # A custom range that runs on past today: today is the first bucket not over.
        ahead = resolved({"date_from": (day - timedelta(days=2)).isoformat(), "date_to": (day + timedelta(days=3)).isoformat()})
        assert ahead.labels()[partial_from(ahead)] == day.isoformat()
        # A range wholly in the past has every bucket over; one wholly to come, none.
        assert partial_from(resolved({"date_from": (day - timedelta(days=9)).isoformat(), "date_to": (day - timedelta(days=1)).isoformat()})) is None
        assert partial_from(resolved({"date_from": (day + timedelta(days=1)).isoformat(), "date_to": (day + timedelta(days=2)).isoformat()})) == 0
        # Weeks: the current week.
        weeks = resolved({"range": "90d", "interval": "week"})
        assert partial_from(weeks) == len(weeks.labels()) - 1


def test_the_present_is_placed_in_the_project_timezone():
    # 15:20 UTC is 05:20 of the next day in Pacific/Kiritimati (UTC+14).
    with time_machine.travel(NOW, tick=False):
        kiritimati = resolved({"range": "7d"}, tz="Pacific/Kiritimati")
        local_today = (NOW + timedelta(hours=14)).date().isoformat()
        assert kiritimati.labels()[partial_from(kiritimati)] == local_today


def test_only_a_chart_over_the_range_buckets_is_finished(db):
    project = ProjectFactory()
    with time_machine.travel(NOW, tick=False):
        week = resolved({"range": "7d"})
        other = {"type": "bar", "labels": ["1 day", "2 days"], "datasets": []}
        assert time_chart_finish(dict(other), project=project, date_range=week) == other
        chart = time_chart_finish({"type": "line", "labels": week.labels(), "datasets": []}, project=project, date_range=week)
        assert chart["partial_from"] == 6
        assert chart["annotations"] == []  # what apps.analytics adds to every such chart
