"""The read APIs fuzzed from their OpenAPI schema (``/api/schema/``, drf-spectacular) with
schemathesis, through Django's WSGI application, authenticated with a personal API key.

Whatever the parameters, no answer is a server error, and the answers the schema describes
conform to it. The examples are derandomized (the ``pulseboard`` hypothesis profile of
conftest.py), so every run sends the same requests.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from apps.funnels.services import funnel_create
from apps.projects.services import personal_api_key_create
from conftest import post_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_schema(fuzz_target, wsgi_schema):
    # After fuzz_target (set up first, torn down last): its test client connects the
    # request signals again when it is done.
    return wsgi_schema


@pytest.fixture
def fuzz_target(member, ingest_client):
    """A project with a few events and a saved funnel, and a personal key of its owner."""
    events = [{"event": name, "distinct_id": f"u{n}", "properties": {"plan": "pro"}} for n in range(3) for name in ("signed_up", "paid")]
    assert post_events(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    funnel = funnel_create(project=member.project, name="Signup", steps=[{"event": "signed_up"}, {"event": "paid"}])
    key = personal_api_key_create(user=member.user, label="fuzz").secret
    return {"project_id": member.project.id, "funnel_id": funnel.id, "headers": {"Authorization": f"Bearer {key}"}}


# The reads: every GET, and running a funnel definition without saving it.
READS = re.compile(r"^(GET |POST .*/funnels/query$)")
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def test_read_apis_never_fail_on_any_parameters(api_schema, fuzz_target):
    """Each read operation of the schema, with the cases schemathesis makes for it."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    reads = [operation for operation in operations if READS.match(operation.label)]
    assert len(reads) >= 8, [operation.label for operation in operations]
    for operation in reads:

        @settings(max_examples=40)
        @given(case=operation.as_strategy())
        def calls(case):
            # The project and funnel that exist, so that the parameters reach the queries;
            # any other id is a 404 before they are read.
            for name in ("project_id", "funnel_id"):
                if name in (case.path_parameters or {}):
                    case.path_parameters[name] = fuzz_target[name]
            case.call_and_validate(headers=fuzz_target["headers"], checks=CHECKS)

        calls()
