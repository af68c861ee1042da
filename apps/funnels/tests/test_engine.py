"""The funnel engine's SQL against the pure-Python reference, on hand-worked cases and on
random event sets (hypothesis)."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.funnels.engine import FunnelDefinition, Step, funnel_run
from apps.funnels.sql import ORDER_KEY
from apps.funnels.tests import reference
from apps.ingest.validation import EVENT_COLUMNS, Limits, RequestContext, event_validate
from apps.query.filters import PropertyFilter
from pulseboard import clickhouse
from pulseboard.clickhouse.migrate import migrations_available

T0 = datetime(2026, 10, 5, 12, 0, tzinfo=timezone.utc)
DATE_FROM, DATE_TO = T0 - timedelta(days=1), T0 + timedelta(days=1)
_project_ids = itertools.count(7_000_000_000 + uuid.uuid4().int % 1_000_000 * 1000)


def store(events: list[dict]) -> int:
    """Insert events for a fresh project id; return the id."""
    project_id = next(_project_ids)
    context = RequestContext(project_id=project_id, received_at=datetime.now(timezone.utc), user_agent="", ip_hash="")
    rows = []
    for e in events:
        raw = {**e, "timestamp": e["timestamp"].isoformat()}
        row, errors = event_validate(raw, context=context, limits=Limits(max_past=timedelta(days=3650)))
        assert not errors, errors
        rows.append(row)
    if rows:
        clickhouse.insert_json_each_row("events", EVENT_COLUMNS, b"\n".join(orjson.dumps(r) for r in rows))
    return project_id


def ev(who: str, name: str, seconds: float, event_id: str | None = None, **props) -> dict:
    return {
        "event": name,
        "distinct_id": who,
        "timestamp": T0 + timedelta(seconds=seconds),
        "event_id": event_id or str(uuid.uuid4()),
        "properties": props,
    }


def run(events, definition):
    project_id = store(events)
    return funnel_run(project_id=project_id, definition=definition, date_from=DATE_FROM, date_to=DATE_TO)


def counts(result) -> list[int]:
    return [s["count"] for s in result["steps"]]


ABC = (Step("A"), Step("B"), Step("C"))


def funnel(mode="ordered", window=600, steps=ABC, breakdown=None):
    return FunnelDefinition(steps=steps, window_seconds=window, mode=mode, breakdown=breakdown)


# --- Hand-worked cases -------------------------------------------------------------------


def test_a_repeat_attempt_that_goes_further_later_counts():
    events = [ev("p", "A", 0), ev("p", "B", 10), ev("p", "A", 1000), ev("p", "B", 1030), ev("p", "C", 1100)]
    result = run(events, funnel())
    assert counts(result) == [1, 1, 1]
    # times come from the attempt that counted (the second): 30 s, then 70 s
    assert [s["median_time_to_convert"] for s in result["steps"]] == [None, 30.0, 70.0]


def test_step_two_before_step_one_does_not_count_in_order():
    events = [ev("p", "B", 0), ev("p", "A", 10)]
    assert counts(run(events, funnel())) == [1, 0, 0]
    assert counts(run(events, funnel(mode="unordered"))) == [1, 1, 0]


def test_window_edge_is_inclusive():
    on_edge = [ev("p", "A", 0), ev("p", "B", 300), ev("p", "C", 600)]
    past_edge = [ev("q", "A", 0), ev("q", "B", 300), ev("q", "C", 600.001)]
    assert counts(run(on_edge, funnel(window=600))) == [1, 1, 1]
    assert counts(run(past_edge, funnel(window=600))) == [1, 1, 0]


def test_strict_is_broken_by_an_interleaved_event():
    events = [ev("p", "A", 0), ev("p", "X", 5), ev("p", "B", 10), ev("p", "C", 20)]
    assert counts(run(events, funnel(mode="ordered"))) == [1, 1, 1]
    assert counts(run(events, funnel(mode="strict"))) == [1, 0, 0]
    again = events + [ev("p", "A", 100), ev("p", "B", 101), ev("p", "C", 102)]
    assert counts(run(again, funnel(mode="strict"))) == [1, 1, 1]


def test_unordered_completion_in_any_order():
    events = [ev("p", "C", 0), ev("p", "A", 10), ev("p", "B", 20)]
    result = run(events, funnel(mode="unordered"))
    assert counts(result) == [1, 1, 1]
    assert [s["avg_time_to_convert"] for s in result["steps"]] == [None, 10.0, 10.0]
    assert counts(run(events, funnel(mode="ordered"))) == [1, 1, 0]


def test_step_one_must_be_inside_the_date_range():
    events = [ev("p", "A", -3 * 86400), ev("p", "B", -3 * 86400 + 5), ev("q", "A", 0)]
    assert counts(run(events, funnel(window=86400 * 7))) == [1, 0, 0]


def test_later_steps_may_fall_after_the_range_within_the_window():
    events = [ev("p", "A", 86400 - 10), ev("p", "B", 86400 + 10)]
    assert counts(run(events, funnel(window=3600))) == [1, 1, 0]


def test_figures_per_step():
    events = []
    for i, reach in enumerate([3, 3, 2, 1]):
        names = ["A", "B", "C"][:reach]
        events += [ev(f"u{i}", name, j * (i + 1) * 10) for j, name in enumerate(names)]
    result = run(events, funnel())
    assert [(s["count"], s["conversion_from_start"], s["conversion_from_previous"], s["drop_off"]) for s in result["steps"]] == [
        (4, 100.0, 100.0, 0),
        (3, 75.0, 75.0, 1),
        (2, 50.0, 66.67, 1),
    ]
    assert result["steps"][1]["avg_time_to_convert"] == 20.0  # 10, 20, 30
    assert result["steps"][1]["median_time_to_convert"] == 20.0


def test_step_filters_and_first_touch_breakdown():
    steps = (Step("A"), Step("B", filters=(PropertyFilter("plan", "equals", "pro"),)))
    events = [
        ev("p", "A", 0, country="DE"), ev("p", "B", 5, plan="free", country="FR"),
        ev("q", "A", 0, country="FR"), ev("q", "B", 5, plan="pro", country="DE"),
    ]
    result = run(events, funnel(steps=steps, breakdown="country"))
    assert counts(result) == [2, 1]
    by_value = {v["value"]: [s["count"] for s in v["steps"]] for v in result["breakdown_values"]}
    assert by_value == {"DE": [1, 0], "FR": [1, 1]}


def test_unordered_attempts_start_inside_the_range_even_in_a_run_that_leaves_it():
    events = [ev("p", "C", 86400 - 300), ev("p", "C", 86400 - 100), ev("p", "C", 86400 + 100), ev("p", "A", 86400 + 400), ev("p", "B", 86400 + 450)]
    # The attempt that starts at the second C (still in the range) completes C, A and B.
    assert counts(run(events, funnel(mode="unordered"))) == [1, 1, 1]


def test_same_millisecond_is_ordered_by_event_id():
    # ids that differ in their first characters: the order key alone tells them apart
    first, last = "0a000000-0000-4000-8000-000000000000", "f0000000-0000-4000-8000-000000000000"
    assert counts(run([ev("p", "A", 0, first), ev("p", "B", 0, last)], funnel())) == [1, 1, 0]
    assert counts(run([ev("p", "A", 0, last), ev("p", "B", 0, first)], funnel())) == [1, 0, 0]
    # ids that differ only in their last characters: the event ids themselves decide
    first, last = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    assert counts(run([ev("p", "A", 0, first), ev("p", "B", 0, last)], funnel())) == [1, 1, 0]
    assert counts(run([ev("p", "A", 0, last), ev("p", "B", 0, first)], funnel())) == [1, 0, 0]
    assert counts(run([ev("p", "A", 0, last), ev("p", "B", 0, first)], funnel(mode="unordered"))) == [1, 1, 0]


def test_same_millisecond_breaks_a_strict_chain_only_when_it_comes_between():
    a, x, b = ("00000000-0000-4000-8000-00000000000%d" % i for i in (1, 2, 3))
    assert counts(run([ev("p", "A", 0, a), ev("p", "X", 5, x), ev("p", "B", 5, b)], funnel(mode="strict"))) == [1, 0, 0]
    assert counts(run([ev("p", "A", 0, a), ev("p", "B", 5, x), ev("p", "X", 5, b)], funnel(mode="strict"))) == [1, 1, 0]


def test_the_later_of_two_starts_in_one_millisecond_gives_the_breakdown():
    early, late = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    events = [ev("p", "A", 0, late, country="DE"), ev("p", "A", 0, early, country="FR"), ev("p", "B", 5)]
    result = run(events, funnel(breakdown="country"))
    assert {v["value"]: counts(v) for v in result["breakdown_values"]} == {"DE": [1, 1, 0]}


def test_one_event_serves_two_steps_only_when_unordered():
    steps = (Step("A"), Step("B"), Step("B", filters=(PropertyFilter("plan", "equals", "pro"),)))
    events = [ev("p", "A", 0), ev("p", "B", 10, plan="pro")]
    assert counts(run(events, funnel(steps=steps))) == [1, 1, 0]
    assert counts(run(events, funnel(mode="unordered", steps=steps))) == [1, 1, 1]
    assert counts(run(events + [ev("p", "B", 20, plan="pro")], funnel(steps=steps))) == [1, 1, 1]


def test_a_repeated_step_needs_its_own_event():
    steps = (Step("A"), Step("A"), Step("B"))
    assert counts(run([ev("p", "A", 0), ev("p", "B", 10)], funnel(steps=steps))) == [1, 0, 0]
    assert counts(run([ev("p", "A", 0), ev("p", "A", 0), ev("p", "B", 10)], funnel(steps=steps))) == [1, 1, 1]


def test_the_latest_of_a_run_of_starts_has_the_most_window_left():
    events = [ev("p", "A", 0), ev("p", "A", 30), ev("p", "A", 50), ev("p", "B", 100), ev("p", "C", 105)]
    result = run(events, funnel(window=60))
    assert counts(result) == [1, 1, 1]
    assert [s["median_time_to_convert"] for s in result["steps"]] == [None, 50.0, 5.0]
    # the first step of a run of later steps is the one a chain takes
    events = [ev("q", "A", 0), ev("q", "B", 10), ev("q", "B", 20), ev("q", "C", 30)]
    assert [s["avg_time_to_convert"] for s in run(events, funnel())["steps"]] == [None, 10.0, 20.0]


def test_a_run_of_starts_across_the_end_of_the_range():
    end = 86400  # DATE_TO - T0
    events = [ev("p", "A", end - 10), ev("p", "A", end + 10), ev("p", "B", end + 20)]
    result = run(events, funnel(window=3600))
    assert counts(result) == [1, 1, 0]
    assert result["steps"][1]["avg_time_to_convert"] == 30.0
    assert counts(run(events, funnel(mode="strict", window=3600))) == [1, 0, 0]


def test_twenty_steps_over_two_years():
    steps = tuple(Step("A" if i % 2 == 0 else "B") for i in range(20))
    events = [ev("p", "A" if i % 2 == 0 else "B", i * 0.001) for i in range(20)] + [ev("q", "A", -300 * 86400)]
    long_from = DATE_FROM - timedelta(days=700)
    definition = FunnelDefinition(steps=steps, window_seconds=86400 * 30, mode="ordered")
    result = funnel_run(project_id=store(events), definition=definition, date_from=long_from, date_to=DATE_TO)
    expected = reference.funnel(events, definition, long_from, DATE_TO)
    assert_same(result, expected["steps"])
    assert counts(result) == [2] + [1] * 19


def test_strict_reads_the_other_events_when_every_step_has_filters():
    pro = (PropertyFilter("plan", "equals", "pro"),)
    steps = (Step("A", filters=pro), Step("B", filters=pro))
    events = [ev("p", "A", 0, plan="pro"), ev("p", "X", 1), ev("p", "B", 2, plan="pro")]
    events += [ev("q", "A", 0, plan="pro"), ev("q", "B", 2, plan="pro")]
    assert counts(run(events, funnel(mode="strict", steps=steps, breakdown="plan"))) == [2, 1]


def test_funnel_events_mirror_events():
    events = [ev("p", "A", 0), ev("q", "B", 1.5, "ffffffff-ffff-4fff-bfff-ffffffffffff")]
    project_id = store(events)
    # Running the backfill again (an interrupted migration is repeated) copies nothing twice.
    backfill = next(m for m in migrations_available() if m.name == "funnel_events").statements[-1]
    assert backfill.startswith("INSERT INTO funnel_events")
    clickhouse.command(backfill)
    mirrored = clickhouse.query(
        f"""SELECT f.event, f.person_key, f.order_key, e.order_key
        FROM funnel_events AS f
        INNER JOIN (SELECT event_id, person_key, {ORDER_KEY} AS order_key FROM events WHERE project_id = {{p:UInt64}}) AS e
            ON f.event_id = e.event_id AND f.person_key = e.person_key
        WHERE f.project_id = {{p:UInt64}} ORDER BY f.event""",
        {"p": project_id},
    ).rows
    assert [(row[0], row[2] == row[3]) for row in mirrored] == [("A", True), ("B", True)]
    assert clickhouse.query("SELECT count() FROM funnel_events WHERE project_id = {p:UInt64}", {"p": project_id}).scalar() == 2
    assert mirrored[0][2] >> 22 == int(T0.timestamp() * 1000)
    assert mirrored[1][2] % (1 << 22) == (1 << 22) - 1  # the id's first 22 bits, all set


# --- Random event sets ---------------------------------------------------------------------

WINDOW = 600
OFFSETS = st.sampled_from([0, 0.001, 1, 299.999, 300, 300.001, 599.999, 600, 600.001, 601, 1200, -1])


@st.composite
def event_sets(draw):
    events = []
    for who in range(draw(st.integers(1, 4))):
        base = draw(st.sampled_from([0, 3600, -86400 - 100, 86400 - 300]))
        clock = 0.0
        for _ in range(draw(st.integers(0, 10))):
            clock += max(0, draw(OFFSETS)) if draw(st.booleans()) else draw(st.floats(0, 400))
            name = draw(st.sampled_from(["A", "B", "C", "X"]))
            props = {"plan": draw(st.sampled_from(["free", "pro"])), "country": draw(st.sampled_from(["DE", "FR", "US", ""]))}
            # The id orders events of the same millisecond: drawn, so a failure replays exactly.
            # Ids that share their first characters can only be told apart by the whole id.
            shared_prefix = f"00000000-0000-4000-8000-{draw(st.integers(0, 255)):04x}{len(events):08x}"
            event_id = str(draw(st.uuids())) if draw(st.booleans()) else shared_prefix
            events.append(ev(f"person-{who}", name, base + round(clock, 3), event_id=event_id, **props))
    return events


DEFINITIONS = [
    funnel("ordered", WINDOW),
    funnel("strict", WINDOW),
    funnel("unordered", WINDOW),
    funnel("ordered", WINDOW, steps=(Step("A"), Step("A"), Step("B"))),
    funnel("ordered", WINDOW, steps=(Step("A"), Step("B", filters=(PropertyFilter("plan", "equals", "pro"),)), Step("C")), breakdown="country"),
    funnel("strict", WINDOW, breakdown="plan"),
    funnel("unordered", WINDOW, steps=(Step("A"), Step("B"), Step("B", filters=(PropertyFilter("plan", "not_equals", "free"),))), breakdown="country"),
]


def close(a, b) -> bool:
    return a is None and b is None or a is not None and b is not None and abs(a - b) <= 0.002


def assert_same(result, expected):
    got = [(s["count"], s["avg_time_to_convert"], s["median_time_to_convert"]) for s in result["steps"]]
    assert [g[0] for g in got] == [e[0] for e in expected], (got, expected)
    assert all(close(g[1], e[1]) and close(g[2], e[2]) for g, e in zip(got, expected)), (got, expected)


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: f"{d.mode}-{len(d.steps)}-{d.breakdown}")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=event_sets())
def test_sql_equals_reference(definition, events):
    result = run(events, definition)
    expected = reference.funnel(events, definition, DATE_FROM, DATE_TO)
    assert_same(result, expected["steps"])
    if definition.breakdown:
        got = {v["value"]: v for v in result["breakdown_values"]}
        assert set(got) == set(expected["breakdown"])
        for value, figures in expected["breakdown"].items():
            assert_same(got[value], figures)
