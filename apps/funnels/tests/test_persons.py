"""Funnels count persons: steps done under different ids of one person count for it.

Random identity histories (apps/persons/tests/histories.py) go through the real ingest path
in random batches and order; each funnel mode, with person-property filters and
breakdowns, then equals the funnel reference run on the persons the persons reference
gives each event.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.funnels.engine import FunnelDefinition, Step, funnel_run
from apps.funnels.tests import reference
from apps.persons.tests.histories import BASE, NAMES, history_annotated, history_ingest, histories
from apps.query.filters import PropertyFilter
from conftest import ProjectFactory

pytestmark = pytest.mark.django_db

DATE_FROM, DATE_TO = BASE - timedelta(hours=1), BASE + timedelta(days=2)
PERSON_PRO = PropertyFilter(key="tier", operator="equals", value="pro", type="person")


@st.composite
def definitions(draw) -> FunnelDefinition:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=3))
    filtered = draw(st.integers(-1, len(names) - 1))
    steps = tuple(Step(event=name, filters=(PERSON_PRO,) if i == filtered else ()) for i, name in enumerate(names))
    breakdown = draw(st.sampled_from([None, ("tier", "person"), ("plan", "event")]))
    return FunnelDefinition(
        steps=steps,
        window_seconds=draw(st.sampled_from([3600, 86400, 3 * 86400])),
        mode=draw(st.sampled_from(["ordered", "strict", "unordered"])),
        breakdown=breakdown[0] if breakdown else None,
        breakdown_type=breakdown[1] if breakdown else "event",
    )


def figures(result) -> tuple:
    steps = [(s["count"], s["avg_time_to_convert"], s["median_time_to_convert"]) for s in result["steps"]]
    values = {v["value"]: [s["count"] for s in v["steps"]] for v in result["breakdown_values"]}
    return steps, values


def expected(annotated, definition) -> tuple:
    ref = reference.funnel(annotated, definition, DATE_FROM, DATE_TO)
    rounded = lambda x: None if x is None else round(x, 3)  # noqa: E731
    steps = [(count, rounded(avg) if k else None, rounded(median) if k else None) for k, (count, avg, median) in enumerate(ref["steps"])]
    steps = [(c, a if c else None, m if c else None) for c, a, m in steps]
    values = {value: [count for count, _, _ in group] for value, group in ref["breakdown"].items()}
    return steps, values


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=histories, definition=definitions(), data=st.data())
def test_funnels_count_persons(ingest_client, events, definition, data):
    project = ProjectFactory()
    history_ingest(ingest_client, project, events, data)
    result = funnel_run(project_id=project.id, definition=definition, date_from=DATE_FROM, date_to=DATE_TO)
    assert figures(result) == expected(history_annotated(events), definition)
