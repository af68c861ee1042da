"""Date ranges of whole local buckets, read from request parameters and from a page's address."""

import pytest
from django.http import QueryDict

from apps.query.dates import date_controls, date_range_from_query, date_range_resolve
from pulseboard.errors import ParamError

NEW_YORK = "America/New_York"


def resolved(params):
    return date_range_resolve(params=params, tz_name=NEW_YORK)


def test_the_dst_day_has_25_hour_buckets():
    hours = resolved({"date_from": "2026-11-01", "date_to": "2026-11-01", "interval": "hour"})
    assert len(hours.bucket_starts()) == 25
    assert hours.labels().count("2026-11-01 01:00") == 2


@pytest.mark.parametrize(
    ("interval", "last_day", "buckets", "one_too_far"),
    [
        ("day", "2033-11-02", 2500, "2033-11-03"),
        ("hour", "2027-04-12", 2495, "2027-04-13"),  # 104 local days, one of 23 hours
        ("week", "2074-11-25", 2500, "2074-11-26"),  # Monday weeks from 2026-12-28
    ],
)
def test_a_range_holds_at_most_2500_buckets(interval, last_day, buckets, one_too_far):
    date_range = resolved({"date_from": "2026-12-30", "date_to": last_day, "interval": interval})
    assert len(date_range.bucket_starts()) == len(date_range.labels()) == len(date_range.bucket_epochs()) == buckets
    with pytest.raises(ParamError) as raised:
        resolved({"date_from": "2026-12-30", "date_to": one_too_far, "interval": interval})
    assert raised.value.field == "interval"


def test_the_date_controls_preset_wins_over_the_dates_it_carries():
    """Without JavaScript the preset buttons send the dates and interval shown along with
    ``preset``; the preset is what was clicked."""
    query = QueryDict("preset=7d&date_from=2026-01-01&date_to=2026-01-31&interval=day")
    assert date_range_from_query(params=query, tz_name=NEW_YORK).preset == "7d"
    custom = date_range_from_query(params=QueryDict("date_from=2026-01-01&date_to=2026-01-31"), tz_name=NEW_YORK)
    assert custom.preset is None and len(custom.bucket_starts()) == 31


def test_date_controls_show_the_range_and_keep_the_pages_other_parameters():
    query = QueryDict("date_from=2026-01-01&date_to=2026-01-31&event=a&event=b&event=&cursor=x")
    date_range = date_range_from_query(params=query, tz_name=NEW_YORK)
    controls = date_controls(params=query, date_range=date_range, keep=("event",))
    assert (controls["date_from"], controls["date_to"], controls["preset"]) == ("2026-01-01", "2026-01-31", None)
    assert controls["hidden"] == [("event", "a"), ("event", "b")]
    assert controls["intervals"] == ["hour", "day", "week"] and ("7d", "7 days") in controls["presets"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "fortnight"}, "interval"),
        ({"range": "2y"}, "range"),
        ({"date_from": "2026-01-01"}, "date_to"),
        ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to"),
        ({"date_from": "yesterday", "date_to": "2026-01-01"}, "date_from"),
    ],
)
def test_bad_range_parameters_name_the_field(params, field):
    with pytest.raises(ParamError) as raised:
        resolved(params)
    assert raised.value.field == field
