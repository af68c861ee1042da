"""Materialised properties: a property's own column changes how fast a breakdown or a filter
is, never what it says. Every figure is compared before and after ``properties_materialize``,
on values of every JSON kind, with a key that DDL must escape."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from django.core.management import CommandError, call_command

from apps.query.materialized import column_name, materialized_properties, value_expression
from apps.query.filters import PropertyFilter
from apps.query.sql import property_filters, property_text
from conftest import flush, post_events
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db

KEY = "it's a \\ key"  # a quote and a backslash: the DDL writes the key in, escaped
VALUES = ["Chrome", "Firefox", "", "ünï ☃", 'say "hi"', 7, -2.5, 0, True, False, None, [1, "a"], {"x": {"y": 1}}, "12", "a\nb"]


def events(start: datetime, count: int) -> list[dict]:
    batch = []
    for i in range(count):
        props = {"plan": ["free", "pro"][i % 2], "n": i % 7}
        if i % 9:
            props[KEY] = VALUES[i % len(VALUES)]
            props["$browser"] = VALUES[(i * 5) % len(VALUES)]
        batch.append({"event": "view", "distinct_id": f"u{i % 23}", "timestamp": (start + timedelta(minutes=i)).isoformat(), "properties": props})
        if i % 3 == 0:
            batch.append({"event": "buy", "distinct_id": f"u{i % 23}", "timestamp": (start + timedelta(minutes=i, seconds=30)).isoformat()})
    return batch


def figures(reader, project_id: int) -> dict:
    """Every breakdown by an event property (trends: events, persons, a property's average;
    a funnel) and every kind of filter on it, by both keys."""
    out = {}
    for key in (KEY, "$browser"):
        for math in ("total", "unique"):
            out[key, math] = reader.get(f"/api/v1/projects/{project_id}/insights/trends", {"events": "view", "math": math, "breakdown": key, "range": "7d"}).json()["series"]
        for operator, value in (("equals", "Chrome"), ("not_equals", "7"), ("contains", "I"), ("is_set", "")):
            filters = orjson.dumps([{"key": key, "operator": operator, "value": value}]).decode()
            out[key, operator] = reader.get(f"/api/v1/projects/{project_id}/insights/trends", {"events": "view", "filters": filters, "range": "7d"}).json()["series"]
        out[key, "avg"] = reader.get(
            f"/api/v1/projects/{project_id}/insights/trends", {"events": "view", "math": "avg", "math_property": "n", "breakdown": key, "range": "7d"}
        ).json()["series"]
        steps = [{"event": "view"}, {"event": "buy"}]
        funnel = reader.post(f"/api/v1/projects/{project_id}/funnels/query", {"steps": steps, "range": "7d", "breakdown_property": key}, format="json")
        assert funnel.status_code == 200, funnel.content
        out[key, "funnel"] = funnel.json()["breakdown_values"]
    return out


@pytest.fixture
def materialised():
    """Run the command; drop whatever it added afterwards (the table is shared)."""
    out = io.StringIO()
    yield lambda *args: call_command("properties_materialize", *args, stdout=out, verbosity=0) or out.getvalue()
    for key in list(materialized_properties(fresh=True)):
        call_command("properties_materialize", "--drop", key, stdout=io.StringIO(), verbosity=0)


def test_breakdowns_say_the_same_with_the_columns_and_after_they_are_dropped(member, reader, materialised):
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(days=2)
    assert post_events(reader, member.project.api_key, {"events": events(start, 150)}).status_code == 202
    flush()
    before = figures(reader, member.project.id)
    assert len({line["breakdown_value"] for line in before[KEY, "total"]}) == 11  # the top 10 and $other
    assert property_text("breakdown", KEY).startswith("if(")  # read from the JSON
    counted = {op: before[KEY, op][0]["total"] for op in ("equals", "not_equals", "contains", "is_set")}
    assert 0 < counted["equals"] < counted["is_set"] < counted["not_equals"] < 150 and counted["contains"] > 0

    said = materialised(KEY, "$browser")
    assert f"{KEY}: added column {column_name(KEY)}" in said
    assert materialized_properties(fresh=True) == {KEY: column_name(KEY), "$browser": column_name("$browser")}
    assert property_text("breakdown", KEY) == column_name(KEY)  # read from the column
    params: dict = {}
    assert column_name(KEY) in property_filters([PropertyFilter(key=KEY, operator="equals", value="x")], params)
    assert figures(reader, member.project.id) == before

    # Events stored from now on get the column filled on insert, with the same text.
    assert post_events(reader, member.project.api_key, {"events": events(start + timedelta(hours=5), 60)}).status_code == 202
    flush()
    mismatched = clickhouse.query(
        f"SELECT count() FROM events WHERE project_id = {{p:UInt64}} AND {column_name(KEY)} != {value_expression(KEY)}", {"p": member.project.id}
    ).rows[0][0]
    assert mismatched == 0
    after_more = figures(reader, member.project.id)
    assert after_more != before  # the new events count

    assert "already has" in materialised(KEY)
    materialised("--drop", KEY, "$browser")
    assert materialized_properties(fresh=True) == {}
    columns = clickhouse.query("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'events'").rows
    assert not [name for (name,) in columns if name.startswith("mp_")]
    assert figures(reader, member.project.id) == after_more


def test_the_command_lists_and_refuses_what_it_cannot_do(materialised):
    assert "No materialised properties." in materialised("--list")
    with pytest.raises(CommandError, match="at least one property key"):
        materialised()
    with pytest.raises(CommandError, match="1 to 200 characters"):
        materialised("x" * 201)
    assert "not materialised" in materialised("--drop", "plan")
    materialised("plan")
    assert f"plan\t{column_name('plan')}" in materialised("--list")


def test_column_names_are_readable_and_never_shared():
    assert column_name("$browser").startswith("mp_browser_")
    assert column_name("Plan") != column_name("plan")
    assert column_name("a b") != column_name("a_b")
