"""The broadcast helper: a failing channel layer never fails the flush or writes twice."""

import logging
import time

import pytest
from django.test import override_settings

from apps.ingest import stream

pytestmark = pytest.mark.django_db

# A Redis nobody answers at: a real connection failure, not a stand-in.
UNREACHABLE_LAYER = {
    "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
}


def test_a_broadcast_that_fails_is_logged_and_the_flush_goes_on(member, ingest_client, send, flush_stream, count_stored, caplog):
    events = [{"event": "purchase", "distinct_id": f"u{i}"} for i in range(3)]
    assert send(ingest_client, member.project.api_key, {"events": events}).status_code == 202

    with override_settings(CHANNEL_LAYERS=UNREACHABLE_LAYER), caplog.at_level(logging.WARNING, logger="apps.analytics.live"):
        stats = flush_stream()
        # The broadcast runs after the flush, on the live feed's own thread.
        deadline = time.monotonic() + 30
        while "live feed: could not broadcast" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)

    assert stats.events_written == 3 and stats.entries_acked == 1
    assert count_stored(member.project.id) == 3
    assert stream.stream_backlog().entries == 0  # acked: the next flush does not write them again
    assert flush_stream().events_written == 0
    assert count_stored(member.project.id) == 3
    assert "live feed: could not broadcast a batch of 3 events" in caplog.text
