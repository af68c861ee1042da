"""A breakdown's folded rest and its missing values are shown the same way by every insight
(trends API and page, funnel results)."""

from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client

from apps.query.breakdown import OTHER, breakdown_label
from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_breakdown_values_are_shown_one_way():
    assert [breakdown_label(value) for value in (OTHER, "", "Chrome")] == ["Other", "(none)", "Chrome"]


def test_trends_and_funnels_label_other_and_none_alike(member, reader, ingest_client, send, flush_stream):
    start = datetime.now(timezone.utc) - timedelta(hours=2)
    people = [(f"p{i:02d}", {"browser": f"B{i:02d}"}) for i in range(12)] + [(f"q{i}", {}) for i in range(3)]
    events = []
    for n, (person, properties) in enumerate(people):
        at = start + timedelta(seconds=n)
        events.append({"event": "a", "distinct_id": person, "properties": properties, "timestamp": at.isoformat()})
        events.append({"event": "b", "distinct_id": person, "timestamp": (at + timedelta(minutes=1)).isoformat()})
    assert send(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    flush_stream()
    base = f"/api/v1/projects/{member.project.id}"

    trends = reader.get(f"{base}/insights/trends", {"events": "a", "breakdown": "browser", "range": "7d"}).json()
    labels = {line["breakdown_value"]: line["label"] for line in trends["series"]}
    assert labels[OTHER] == "a · Other" and labels[""] == "a · (none)"

    body = {"steps": [{"event": "a"}, {"event": "b"}], "breakdown_property": "browser", "range": "7d"}
    funnel = reader.post(f"{base}/funnels/query", body, format="json").json()
    labels = {value["value"]: value["label"] for value in funnel["breakdown_values"]}
    assert labels[OTHER] == "Other" and labels[""] == "(none)"

    page = Client()
    assert page.login(username=member.user.username, password=PASSWORD)
    html = page.get(f"/projects/{member.project.id}/trends/", {"events": "a", "breakdown": "browser", "range": "7d"}).content.decode()
    assert "a · Other" in html and "a · (none)" in html
