"""The ingest guardrails through the doors, on the real Redis: per-key rate limits and daily
quotas (429 with Retry-After, nothing accepted), the origin allowlist and server keys."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import override_settings

from apps.ingest import gate, stream
from apps.ingest.gate import origin_matches, usage_for_keys
from apps.projects.models import origin_pattern_normalize
from apps.projects.selectors import project_key_cache_clear
from apps.projects.services import project_ingest_guards_update, server_key_create, server_key_revoke

pytestmark = pytest.mark.django_db


def guards(project, *, rate=None, burst=None, quota=None, origins=(), require_server_key=False):
    return project_ingest_guards_update(
        project=project,
        rate_per_second=rate,
        burst=burst,
        daily_quota=quota,
        allowed_origins=list(origins),
        require_server_key=require_server_key,
    )


def events(n: int, name: str = "tick") -> dict:
    return {"events": [{"event": name, "distinct_id": f"u{i}"} for i in range(n)]}


def stream_events(project_id: int) -> int:
    """Events of the project waiting in the stream: what was accepted."""
    return sum(int(fields[b"n"]) for _, fields in stream.client().xrange(stream.stream_key()) if int(fields[b"p"]) == project_id)


def gate_keys(project_id: int) -> list[bytes]:
    return list(stream.client().scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:gate:{project_id}:*"))


@pytest.fixture
def project(member):
    project_key_cache_clear()
    yield member.project
    project_key_cache_clear()


@pytest.fixture
def moment():
    """A frozen clock at 23:00:00 UTC of today: an hour before the quota's day ends."""
    now = datetime.now(timezone.utc).replace(hour=23, minute=0, second=0, microsecond=0)
    with time_machine.travel(now, tick=False) as traveller:
        yield traveller


# --- Origin patterns -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, origin, allowed",
    [
        ("https://shop.example.com", "https://shop.example.com", True),
        ("https://shop.example.com", "http://shop.example.com", False),
        ("https://shop.example.com", "https://shop.example.com:8443", False),
        ("https://shop.example.com", "https://evil-shop.example.com", False),
        ("http://localhost:3000", "http://localhost:3000", True),
        ("http://localhost:3000", "http://localhost:3001", False),
        ("*.example.com", "https://a.example.com", True),
        ("*.example.com", "http://a.b.example.com", True),
        ("*.example.com", "https://example.com", False),  # the apex is not a subdomain
        ("*.example.com", "https://badexample.com", False),
        ("*.example.com", "https://a.example.com.evil.net", False),
        ("*.example.com", "https://a.example.com:8080", False),
        ("*.example.com", "ftp://a.example.com", False),
        ("https://*.example.com", "https://a.example.com", True),
        ("https://*.example.com", "http://a.example.com", False),
        ("http://*.example.com:8080", "http://a.example.com:8080", True),
        ("https://shop.example.com", "null", False),
    ],
)
def test_origin_patterns(pattern, origin, allowed):
    assert origin_matches(origin, origin_pattern_normalize(pattern)) is allowed


@pytest.mark.parametrize(
    "value, stored",
    [
        ("HTTPS://Shop.Example.com/", "https://shop.example.com"),
        (" *.Example.com ", "*.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://*.example.com", "https://*.example.com"),
    ],
)
def test_origin_patterns_are_stored_normalised(value, stored):
    assert origin_pattern_normalize(value) == stored


@pytest.mark.parametrize(
    "value",
    ["shop.example.com", "ftp://shop.example.com", "https://shop.example.com/path", "https://", "*.", "*", "https://exa mple.com",
     "https://*.com", "https://shop.example.com:99999", "*.example.com:8080", "https://user@shop.example.com", "https://a.*.example.com", ""],
)
def test_bad_origin_patterns_are_refused(value):
    with pytest.raises(ValidationError):
        origin_pattern_normalize(value)


# --- Rate limits ---------------------------------------------------------------------------


def test_limits_off_make_no_redis_call(project, ingest_client, send):
    response = send(ingest_client, project.api_key, events(50))
    assert response.status_code == 202
    assert gate_keys(project.id) == []


def test_token_bucket_refuses_with_retry_after_and_accepts_nothing(project, ingest_client, send, moment):
    guards(project, rate=10, burst=20)
    assert send(ingest_client, project.api_key, events(15)).status_code == 202
    assert send(ingest_client, project.api_key, events(5)).status_code == 202  # the bucket is empty now

    refused = send(ingest_client, project.api_key, events(3))
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"  # 3 events at 10 a second: 0.3 s, rounded up
    assert refused.json()["error"] == "rate_limited"
    assert "10 events a second" in refused.json()["message"]
    assert stream_events(project.id) == 20  # nothing of the refused request

    moment.shift(timedelta(seconds=0.25))  # 2.5 tokens back: still short of 3
    assert send(ingest_client, project.api_key, events(3)).status_code == 429
    moment.shift(timedelta(seconds=0.1))  # 3.5 tokens
    assert send(ingest_client, project.api_key, events(3)).status_code == 202
    assert stream_events(project.id) == 23


def test_retry_after_says_how_long_the_refill_takes(project, ingest_client, send, moment):
    guards(project, rate=2, burst=10)
    assert send(ingest_client, project.api_key, events(10)).status_code == 202
    refused = send(ingest_client, project.api_key, events(7))
    assert refused.status_code == 429 and refused["Retry-After"] == "4"  # 7 events at 2 a second: 3.5 s
    moment.shift(timedelta(seconds=4))
    assert send(ingest_client, project.api_key, events(7)).status_code == 202


def test_the_bucket_never_holds_more_than_the_burst(project, ingest_client, send, moment):
    guards(project, rate=5, burst=10)
    moment.shift(timedelta(hours=1))
    assert send(ingest_client, project.api_key, events(10)).status_code == 202
    assert send(ingest_client, project.api_key, events(1)).status_code == 429


def test_a_request_larger_than_the_burst_is_413(project, ingest_client, send, flush_stream, count_stored):
    guards(project, rate=10, burst=20)
    response = send(ingest_client, project.api_key, events(21))
    assert response.status_code == 413
    assert response.json()["error"] == "burst_exceeded"
    assert "21 events" in response.json()["message"] and "20" in response.json()["message"]
    assert not response.has_header("Retry-After")
    flush_stream()
    assert count_stored(project.id) == 0


def test_an_empty_burst_is_ten_seconds_of_the_rate(project, ingest_client, send):
    guards(project, rate=3)
    assert send(ingest_client, project.api_key, events(31)).status_code == 413
    assert send(ingest_client, project.api_key, events(30)).status_code == 202


def test_each_key_has_its_own_bucket(project, ingest_client, send, moment):
    guards(project, rate=1, burst=5)
    server = server_key_create(project=project, label="backend").secret
    other = server_key_create(project=project, label="worker").secret
    assert send(ingest_client, project.api_key, events(5)).status_code == 202
    assert send(ingest_client, project.api_key, events(1)).status_code == 429
    assert send(ingest_client, server, events(5)).status_code == 202
    assert send(ingest_client, server, events(1)).status_code == 429
    assert send(ingest_client, other, events(5)).status_code == 202
    assert stream_events(project.id) == 15


def test_projects_do_not_share_buckets(project, ingest_client, send, moment):
    from conftest import MembershipFactory

    other = MembershipFactory().project
    guards(project, rate=1, burst=5)
    guards(other, rate=1, burst=5)
    assert send(ingest_client, project.api_key, events(5)).status_code == 202
    assert send(ingest_client, other.api_key, events(5)).status_code == 202


def test_invalid_events_cost_too_and_the_posthog_door_is_limited(project, ingest_client, moment):
    guards(project, rate=1, burst=4)
    bad = ingest_client.post("/api/v1/events", events(4, name=""), format="json", HTTP_X_API_KEY=project.api_key)
    assert bad.status_code == 400  # the 4 events were counted
    body = {"api_key": project.api_key, "batch": [{"event": "e", "distinct_id": "d"}]}
    refused = ingest_client.post("/batch/", body, format="json")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert refused.json()["code"] == "rate_limited"


def test_the_segment_door_is_limited(project, ingest_client, moment):
    guards(project, rate=1, burst=2)
    auth = "Basic " + base64.b64encode(f"{project.api_key}:".encode()).decode()
    batch = {"batch": [{"type": "track", "event": "e", "userId": "u"} for _ in range(2)]}
    assert ingest_client.post("/v1/batch", batch, format="json", HTTP_AUTHORIZATION=auth).status_code == 200
    refused = ingest_client.post("/v1/track", {"event": "e", "userId": "u"}, format="json", HTTP_AUTHORIZATION=auth)
    assert refused.status_code == 429
    assert refused.json() == {"success": False, "code": "rate_limited", "message": refused.json()["message"]}


# --- One round trip: the limit is taken with the append ------------------------------------


@pytest.fixture
def fresh_process():
    """Forget what this process learnt of every key's limits, as a process started anew (or
    one whose neighbours took the tokens) knows nothing: Redis alone decides then."""
    return gate._seen.clear


def test_a_key_seen_over_its_limit_is_refused_and_a_reset_in_redis_is_honoured_at_once(project, ingest_client, send, moment):
    guards(project, rate=1, burst=5, quota=100)
    assert send(ingest_client, project.api_key, events(5)).status_code == 202
    refused = send(ingest_client, project.api_key, events(2))  # the process saw the bucket empty; Redis confirms
    assert refused.status_code == 429 and refused["Retry-After"] == "2"
    for key in gate_keys(project.id):  # an operator clears the key's usage in Redis
        stream.client().delete(key)
    assert send(ingest_client, project.api_key, events(2)).status_code == 202  # Redis has the last word
    [usage] = usage_for_keys(project_id=project.id, key_ids=["public"], rate=1, burst=5, quota=100)
    assert (usage.today, usage.tokens) == (2, 3)  # charged once, not again with the append
    assert stream_events(project.id) == 7


def test_a_refusal_by_redis_appends_nothing_and_frees_the_idempotency_key(project, ingest_client, send, moment, fresh_process):
    guards(project, rate=1, burst=5)
    assert send(ingest_client, project.api_key, events(4)).status_code == 202
    fresh_process()
    refused = send(ingest_client, project.api_key, events(3), HTTP_IDEMPOTENCY_KEY="order-7")
    assert refused.status_code == 429 and refused["Retry-After"] == "2"  # 1 token left, 3 wanted
    assert stream_events(project.id) == 4
    moment.shift(timedelta(seconds=2))
    retried = send(ingest_client, project.api_key, events(3), HTTP_IDEMPOTENCY_KEY="order-7")
    assert retried.status_code == 202 and retried.json()["accepted"] == 3
    assert stream_events(project.id) == 7


def test_a_quota_refusal_holds_for_the_same_request_and_not_for_a_smaller_one(project, ingest_client, send, moment, fresh_process):
    guards(project, quota=10)
    assert send(ingest_client, project.api_key, events(8)).status_code == 202
    fresh_process()
    assert send(ingest_client, project.api_key, events(3)).status_code == 429  # Redis refuses in the append
    refused = send(ingest_client, project.api_key, events(3))  # seen short: asked before reading the events
    assert refused.status_code == 429 and refused.json()["error"] == "quota_exhausted"
    assert "8 of its 10" in refused.json()["message"]
    assert send(ingest_client, project.api_key, events(2)).status_code == 202
    [usage] = usage_for_keys(project_id=project.id, key_ids=["public"], rate=None, burst=None, quota=10)
    assert usage.today == 10


def test_raising_a_limit_takes_effect_at_once(project, ingest_client, send, moment):
    guards(project, rate=1, burst=5)
    assert send(ingest_client, project.api_key, events(5)).status_code == 202
    assert send(ingest_client, project.api_key, events(5)).status_code == 429
    guards(project, rate=100, burst=500)
    moment.shift(timedelta(seconds=0.1))  # 10 tokens at the new rate, 0.1 at the old one
    assert send(ingest_client, project.api_key, events(5)).status_code == 202


def test_an_invalid_request_over_the_limit_is_429_and_redis_down_leaves_its_400(project, ingest_client, send, moment):
    guards(project, rate=1, burst=4)
    assert send(ingest_client, project.api_key, events(4, name="")).status_code == 400
    assert send(ingest_client, project.api_key, events(1, name="")).status_code == 429
    moment.shift(timedelta(seconds=10))
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = send(ingest_client, project.api_key, events(1, name=""))
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "event"


# --- Daily quotas ----------------------------------------------------------------------------


def test_daily_quota_refuses_until_midnight_utc(project, ingest_client, send, moment):
    guards(project, quota=30)
    assert send(ingest_client, project.api_key, events(25)).status_code == 202
    refused = send(ingest_client, project.api_key, events(10))
    assert refused.status_code == 429
    assert refused.json()["error"] == "quota_exhausted"
    assert refused["Retry-After"] == "3600"  # the frozen clock is at 23:00 UTC
    assert send(ingest_client, project.api_key, events(5)).status_code == 202  # exactly the quota
    assert send(ingest_client, project.api_key, events(1)).status_code == 429
    assert stream_events(project.id) == 30

    moment.shift(timedelta(hours=1))  # a new UTC day
    assert send(ingest_client, project.api_key, events(10)).status_code == 202


def test_a_request_larger_than_the_quota_is_413(project, ingest_client, send):
    guards(project, quota=10)
    response = send(ingest_client, project.api_key, events(11))
    assert response.status_code == 413 and response.json()["error"] == "quota_exceeded"


def test_a_request_refused_by_the_rate_does_not_count_against_the_quota(project, ingest_client, send, moment):
    guards(project, rate=1, burst=5, quota=100)
    assert send(ingest_client, project.api_key, events(5)).status_code == 202
    for _ in range(3):
        assert send(ingest_client, project.api_key, events(5)).status_code == 429
    [usage] = usage_for_keys(project_id=project.id, key_ids=["public"], rate=1, burst=5, quota=100)
    assert usage.today == 5 and usage.tokens == 0


def test_usage_shows_the_bucket_refilling(project, ingest_client, send, moment):
    guards(project, rate=2, burst=10, quota=1000)
    send(ingest_client, project.api_key, events(8))
    moment.shift(timedelta(seconds=1.5))
    [usage] = usage_for_keys(project_id=project.id, key_ids=["public"], rate=2, burst=10, quota=1000)
    assert usage.tokens == pytest.approx(5.0)
    assert (usage.today, usage.quota, usage.burst) == (8, 1000, 10)


# --- Redis down ------------------------------------------------------------------------------


def test_redis_down_is_503_not_500(project, ingest_client, send):
    guards(project, rate=10, burst=20)
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = send(ingest_client, project.api_key, events(1))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"] == "unavailable"


# --- Origins and server keys -----------------------------------------------------------------


def test_a_browser_on_an_allowed_origin_is_accepted(project, ingest_client, send):
    guards(project, origins=["https://shop.example.com", "*.example.org"])
    assert send(ingest_client, project.api_key, events(1), HTTP_ORIGIN="https://shop.example.com").status_code == 202
    assert send(ingest_client, project.api_key, events(1), HTTP_ORIGIN="https://www.example.org").status_code == 202
    assert stream_events(project.id) == 2


def test_a_browser_on_another_origin_is_403_with_cors_headers(project, ingest_client, send, flush_stream, count_stored):
    guards(project, origins=["https://shop.example.com"])
    response = send(ingest_client, project.api_key, events(1), HTTP_ORIGIN="https://evil.example.net")
    assert response.status_code == 403
    assert response.json()["error"] == "origin_not_allowed"
    assert "https://evil.example.net" in response.json()["message"]
    assert response["Access-Control-Allow-Origin"] == "*"  # so the page can read why
    flush_stream()
    assert count_stored(project.id) == 0


def test_the_origin_rule_holds_on_every_door(project, ingest_client):
    guards(project, origins=["https://shop.example.com"])
    posthog = ingest_client.post(
        "/e/", {"api_key": project.api_key, "event": "e", "distinct_id": "d"}, format="json", HTTP_ORIGIN="https://evil.example.net"
    )
    assert posthog.status_code == 403 and posthog.json()["code"] == "origin_not_allowed"
    segment = ingest_client.post(
        "/v1/track", {"writeKey": project.api_key, "event": "e", "userId": "u"}, format="json", HTTP_ORIGIN="https://evil.example.net"
    )
    assert segment.status_code == 403 and segment.json()["code"] == "origin_not_allowed"


def test_requests_without_origin_are_allowed_unless_a_server_key_is_required(project, ingest_client, send):
    guards(project, origins=["https://shop.example.com"])
    assert send(ingest_client, project.api_key, events(1)).status_code == 202

    guards(project, origins=["https://shop.example.com"], require_server_key=True)
    refused = send(ingest_client, project.api_key, events(1))
    assert refused.status_code == 403
    assert refused.json()["error"] == "server_key_required"
    assert project.api_key[:8] in refused.json()["message"]  # names the key
    # A browser still needs no server key.
    assert send(ingest_client, project.api_key, events(1), HTTP_ORIGIN="https://shop.example.com").status_code == 202


def test_a_server_key_is_accepted_on_every_door_and_never_subject_to_origins(project, ingest_client, send):
    guards(project, origins=["https://shop.example.com"], require_server_key=True)
    secret = server_key_create(project=project, label="backend").secret
    assert send(ingest_client, secret, events(1)).status_code == 202
    assert send(ingest_client, secret, events(1), HTTP_ORIGIN="https://elsewhere.example.net").status_code == 202
    assert ingest_client.post("/batch/", {"api_key": secret, "batch": [{"event": "e", "distinct_id": "d"}]}, format="json").status_code == 200
    auth = "Basic " + base64.b64encode(f"{secret}:".encode()).decode()
    assert ingest_client.post("/v1/track", {"event": "e", "userId": "u"}, format="json", HTTP_AUTHORIZATION=auth).status_code == 200
    assert stream_events(project.id) == 4


def test_a_revoked_server_key_is_401(project, ingest_client, send):
    issued = server_key_create(project=project, label="backend")
    assert send(ingest_client, issued.secret, events(1)).status_code == 202
    assert server_key_revoke(key=issued.key)
    response = send(ingest_client, issued.secret, events(1))
    assert response.status_code == 401 and response.json()["error"] == "invalid_api_key"


def test_flags_and_remote_config_follow_the_origin_rule(project, ingest_client):
    guards(project, origins=["https://shop.example.com"])
    allowed = ingest_client.post("/flags/?v=2", {"token": project.api_key}, format="json", HTTP_ORIGIN="https://shop.example.com")
    assert allowed.status_code == 200
    refused = ingest_client.post("/flags/?v=2", {"token": project.api_key}, format="json", HTTP_ORIGIN="https://evil.example.net")
    assert refused.status_code == 403 and refused.json()["code"] == "origin_not_allowed"
    config = ingest_client.get(f"/array/{project.api_key}/config", HTTP_ORIGIN="https://evil.example.net")
    assert config.status_code == 403
    assert ingest_client.get(f"/array/{project.api_key}/config", HTTP_ORIGIN="https://shop.example.com").status_code == 200
