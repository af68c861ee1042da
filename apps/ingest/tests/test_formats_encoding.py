"""Decoders shared by the front doors: each bounded by the body limit after decompression."""

import base64
import gzip
import random
from datetime import datetime, timedelta, timezone

import lzstring
import pytest

from apps.ingest.formats import encoding
from apps.ingest.formats.encoding import (
    base64_decode,
    column_text,
    epoch_ms_parse,
    gunzip,
    json_parse,
    lz64_decompress,
    millis_before,
    skew_corrected,
    timestamp_parse,
)
from apps.ingest.validation import BodyError

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def error_of(call) -> tuple[int, str]:
    with pytest.raises(BodyError) as caught:
        call()
    return caught.value.status, caught.value.code


def test_gunzip_inflates_up_to_the_limit():
    assert gunzip(gzip.compress(b"x" * 1000), limit=1000) == b"x" * 1000


def test_a_gzip_bomb_is_413_without_inflating_it_whole():
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MB in about 64 KB
    assert len(bomb) < 100_000
    assert error_of(lambda: gunzip(bomb, limit=1024 * 1024)) == (413, "body_too_large")


@pytest.mark.parametrize(
    "body",
    [
        gzip.compress(b'{"a": 1}', mtime=0)[:-6],  # truncated
        b"\x1f\x8b" + b"garbage" * 3,
        gzip.compress(b"{}", mtime=0) + b"trailing",
    ],
)
def test_broken_gzip_is_400(body):
    assert error_of(lambda: gunzip(body, limit=1000)) == (400, "invalid_gzip")


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(b'{"ok": true}').decode(),
        base64.b64encode(b'{"ok": true}').decode().rstrip("="),  # padding left out
        base64.urlsafe_b64encode(b'{"ok": true}?>').decode(),  # URL-safe alphabet
        base64.b64encode(b'{"ok": true}??>').decode().replace("+", " "),  # '+' read from a form as ' '
    ],
)
def test_base64_variants(text):
    assert base64_decode(text).startswith(b'{"ok": true}')


@pytest.mark.parametrize("text", ["not base64 at all!", "é", "abc=def"])
def test_bad_base64_is_400(text):
    assert error_of(lambda: base64_decode(text)) == (400, "invalid_base64")


def test_lz64_decompresses_lz_string_base64():
    text = '[{"event": "$pageview", "properties": {"title": "Grüße"}}]'
    assert lz64_decompress(lzstring.LZString().compressToBase64(text), limit=1000) == text.encode()


def test_lz64_past_the_limit_once_decompressed_is_413():
    compressed = lzstring.LZString().compressToBase64("a" * 200_000)
    assert len(compressed) < 2000
    assert error_of(lambda: lz64_decompress(compressed, limit=100_000)) == (413, "body_too_large")


def test_an_lz64_decode_that_runs_past_the_time_cap_is_cut_off(monkeypatch):
    """The decoder runs in a child process that is killed at LZ64_TIMEOUT_SECONDS (20 s in
    production, 1 s here). Pure-Python LZ-string decodes about 5 µs per character here: a
    body near the 1 MB limit of incompressible text takes several seconds (5 s on this
    machine), an ordinary one a few hundredths."""
    monkeypatch.setattr(encoding, "LZ64_TIMEOUT_SECONDS", 1.0)
    lz = lzstring.LZString()
    assert lz64_decompress(lz.compressToBase64('[{"event": "e"}]'), limit=1000) == b'[{"event": "e"}]'

    rng = random.Random(7)
    text = "".join(chr(rng.randrange(0x4E00, 0xA000)) for _ in range(280_000))  # CJK: 3 bytes each in UTF-8
    slow = lz.compressToBase64(text)
    assert len(slow) < 1024 * 1024
    with pytest.raises(BodyError) as caught:
        lz64_decompress(slow, limit=4 * 1024 * 1024)  # the output limit is not what stops it
    assert (caught.value.status, caught.value.code) == (413, "body_too_large")
    assert "decompressing took over 1 s" in caught.value.message


@pytest.mark.parametrize("text", ["!!!!", "", "AAAA"])
def test_bad_lz64_is_400(text):
    assert error_of(lambda: lz64_decompress(text, limit=1000)) == (400, "invalid_lz64")


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"  ", "empty_body"), (b'{"a": "\xff"}', "invalid_utf8"), (b"{nope", "invalid_json"), (b"\xef\xbb\xbf{}", "invalid_json")],
)
def test_json_errors(body, code):
    assert error_of(lambda: json_parse(body)) == (400, code)


def test_timestamps_without_an_offset_are_utc():
    assert timestamp_parse("2026-11-22T10:00:00") == datetime(2026, 11, 22, 10, tzinfo=timezone.utc)
    assert timestamp_parse("2026-11-22T10:00:00.123+02:00") == datetime(2026, 11, 22, 8, 0, 0, 123000, tzinfo=timezone.utc)
    assert timestamp_parse("yesterday") is None
    assert timestamp_parse(1732270000) is None


def test_epoch_milliseconds():
    assert epoch_ms_parse("1795348800000") == datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
    assert epoch_ms_parse(1795348800000) == datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
    assert epoch_ms_parse("soon") is None


def test_skew_correction_moves_the_timestamp_by_the_clock_difference():
    # The client's clock is 5 minutes fast: it says it sent at 12:05 what arrived at 12:00.
    client_time = datetime(2026, 11, 22, 11, 30, tzinfo=timezone.utc)
    sent_at = NOW + timedelta(minutes=5)
    assert skew_corrected(client_time, sent_at=sent_at, now=NOW) == datetime(2026, 11, 22, 11, 25, tzinfo=timezone.utc)
    assert skew_corrected(client_time, sent_at=None, now=NOW) == client_time
    assert skew_corrected(datetime(9999, 12, 31, 23, tzinfo=timezone.utc), sent_at=NOW - timedelta(hours=2), now=NOW) is None


@pytest.mark.parametrize(("offset", "expected"), [(0, NOW), (1500, NOW - timedelta(milliseconds=1500)), (2.0, NOW - timedelta(milliseconds=2))])
def test_offset_is_milliseconds_before_now(offset, expected):
    assert millis_before(NOW, offset) == expected


@pytest.mark.parametrize("offset", [-1, 1.5, "100", True, None, 10**20])
def test_bad_offsets(offset):
    assert millis_before(NOW, offset) is None


def test_column_text_cuts_and_refuses_control_characters():
    assert column_text("https://x.test/" + "a" * 3000, 2048) == ("https://x.test/" + "a" * 3000)[:2048]
    assert column_text("line\nbreak", 100) is None
    assert column_text("", 100) is None
    assert column_text(5, 100) is None
