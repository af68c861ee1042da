"""Every API error has one shape, whichever app's API raised it: ``{"error", "message",
"field"}``, plus ``errors`` listing each problem of invalid input."""

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from pulseboard.api import exception_handler

pytestmark = pytest.mark.django_db

FUNNEL = {"name": "Signup", "steps": [{"event": "signed_up"}, {"event": "purchase"}]}


def insights(project_id: int) -> str:
    return f"/api/v1/projects/{project_id}/insights/trends"


def test_a_bad_query_parameter_names_it(member, reader):
    response = reader.get(insights(member.project.id), {"events": "a", "interval": "fortnight"})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_parameter", "message": "must be one of hour, day, week", "field": "interval"}


def test_every_problem_of_a_body_is_listed_with_its_path(member, reader):
    body = {
        **FUNNEL,
        "steps": [{"event": "signed_up"}, {"event": "purchase", "filters": [{"key": "plan", "operator": "like", "value": "x"}]}],
        "window": {"value": 0, "unit": "days"},
    }
    response = reader.post(f"/api/v1/projects/{member.project.id}/funnels", body, format="json")
    assert response.status_code == 400
    answer = response.json()
    fields = [problem["field"] for problem in answer["errors"]]
    assert set(fields) == {"steps.1.filters.0.operator", "window.value"}
    assert (answer["error"], answer["field"], answer["message"]) == ("invalid_input", fields[0], answer["errors"][0]["message"])
    assert all(problem["message"] for problem in answer["errors"])


def test_a_body_that_is_not_json(member, reader):
    response = reader.post(f"/api/v1/projects/{member.project.id}/funnels", "{nope", content_type="application/json")
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "parse_error" and answer["field"] is None and "JSON" in answer["message"]


def test_not_found_unauthenticated_and_wrong_method(member, reader):
    answer = reader.get(insights(10**12), {"events": "a"})
    assert answer.status_code == 404
    assert answer.json() == {"error": "not_found", "message": "No such project.", "field": None}

    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Bearer pbp_not-a-key")
    refused = stranger.get(insights(member.project.id), {"events": "a"})
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Bearer"
    assert refused.json()["error"] == "authentication_failed" and "personal API key" in refused.json()["message"]

    wrong = reader.delete(insights(member.project.id))
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "method_not_allowed", "message": 'Method "DELETE" not allowed.', "field": None}


@pytest.mark.parametrize(
    ("error", "problems"),
    [
        (ValidationError({"steps": ["Step 2: name the event."], "name": ["Too long."]}), [("steps", "Step 2: name the event."), ("name", "Too long.")]),
        (ValidationError("Nothing to save."), [(None, "Nothing to save.")]),
    ],
)
def test_a_services_validation_error_has_the_same_shape(error, problems):
    """Services raise Django's ValidationError; an API that lets it through answers it like
    a serializer's."""
    response = exception_handler(error, {})
    assert response.status_code == 400
    assert response.data["errors"] == [{"field": field, "message": message} for field, message in problems]
    assert (response.data["field"], response.data["message"]) == problems[0]
