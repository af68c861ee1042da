"""Random identity histories: the persons ClickHouse ends with equal the reference's.

Events over a few ids (users, anonymous ids, illegal ids) with merges, repeats and person
properties are sent in random batches and in random order (merges before or after the
events they cover, late arrivals), through the real ingest path and flush.
"""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.persons.selectors import persons_list
from apps.persons.tests.reference import Persons
from conftest import ProjectFactory, flush, post_events

pytestmark = pytest.mark.django_db

USERS = ["u1", "u2", "u3"]
ANONS = ["a1", "a2", "a3", "a4"]
ILLEGAL = ["null", "Undefined", " guest "]
BASE = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)


@st.composite
def an_event(draw):
    user = draw(st.sampled_from(["", "", *USERS, *ANONS[:1], *ILLEGAL[:1]]))
    anon = draw(st.sampled_from(["", *ANONS, *ILLEGAL, *USERS[:1]]))
    if not user and not anon:
        anon = draw(st.sampled_from(ANONS))
    properties = {}
    if draw(st.booleans()):
        properties["$set"] = draw(st.dictionaries(st.sampled_from(["plan", "seats"]), st.integers(0, 3), max_size=2))
    if draw(st.booleans()):
        properties["$set_once"] = draw(st.dictionaries(st.sampled_from(["plan", "source"]), st.integers(0, 3), max_size=2))
    event = {
        "event": draw(st.sampled_from(["view", "identify"])),
        "event_id": str(draw(st.uuids(version=4))),
        # whole seconds, few of them: ties in time are common and go by event id
        "timestamp": (BASE + timedelta(seconds=draw(st.integers(0, 20)))).isoformat(),
        "properties": properties,
    }
    if user:
        event["user_id"] = user
    if anon:
        event["anonymous_id"] = anon
    return event


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=st.lists(an_event(), min_size=1, max_size=14), cuts=st.lists(st.integers(0, 14), max_size=3), data=st.data())
def test_persons_match_the_reference(ingest_client, events, cuts, data):
    project = ProjectFactory()
    order = data.draw(st.permutations(events))
    bounds = sorted({0, len(order), *(c for c in cuts if c < len(order))})
    for start, end in zip(bounds, bounds[1:]):
        response = post_events(ingest_client, project.api_key, {"events": order[start:end]})
        assert response.status_code == 202, response.json()
        flush()

    reference = Persons([{**e, "timestamp": e["timestamp"]} for e in events])
    persons = persons_list(project_id=project.id, limit=1000).results
    assert sorted(sorted(p.distinct_ids) for p in persons) == reference.groups()
    for person in persons:
        root = reference.root(person.distinct_ids[0])
        assert person.properties == reference.properties(root), (person.distinct_ids, root)
