"""Decoding shared by the front doors: gzip, base64 and LZ-string bodies, JSON, time.

Every decoder is bounded by the body limit *after* decompression: a small body that
inflates past it is a 413 and is never held in memory whole.
"""

from __future__ import annotations

import base64
import binascii
import subprocess
import sys
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from apps.ingest.validation import BodyError

GZIP_MAGIC = b"\x1f\x8b"

# LZ-string output can grow quadratically with its input, and the decoder (the `lzstring`
# package) cannot stop part-way, so it runs in a child process with a memory cap and a
# time limit. Only legacy PostHog clients send this encoding.
LZ64_MEMORY_BYTES = 512 * 1024 * 1024
LZ64_TIMEOUT_SECONDS = 20.0
_LZ64_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
limit = int(sys.argv[1])
try:
    import lzstring
    text = sys.stdin.buffer.read().decode("ascii")
    out = lzstring.LZString().decompressFromBase64(text)
    data = out.encode("utf-8") if out else b""
except MemoryError:
    sys.exit(3)
except Exception:
    sys.exit(4)
if len(data) > limit:
    sys.exit(3)
sys.stdout.buffer.write(data)
"""


def too_large(limit: int, how: str = "") -> BodyError:
    return BodyError(413, "body_too_large", f"The body is larger than {limit} bytes{how}.")


def gunzip(data: bytes, *, limit: int) -> bytes:
    """Inflate a gzip stream, refusing to produce more than ``limit`` bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BodyError(400, "invalid_gzip", f"The body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large(limit, " once decompressed")
    if not inflater.eof:
        raise BodyError(400, "invalid_gzip", "The gzip body is truncated.")
    if inflater.unused_data.strip(b"\x00"):
        raise BodyError(400, "invalid_gzip", "The body has data after the end of its gzip stream.")
    return out


def base64_decode(data: bytes | str) -> bytes:
    """Standard or URL-safe base64, padding optional; a space (a form's '+') counts as '+'."""
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    text = text.strip().replace(" ", "+").replace("\n", "").replace("\r", "")
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BodyError(400, "invalid_base64", f"The body is not valid base64: {exc}") from None


def lz64_decompress(data: bytes | str, *, limit: int) -> bytes:
    """LZ-string's base64 form (``compressToBase64`` in JavaScript) to UTF-8 bytes."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    raw = raw.replace(b" ", b"+").strip()
    if not raw:
        raise BodyError(400, "invalid_lz64", "The body is empty.")
    try:
        child = subprocess.run(
            [sys.executable, "-I", "-c", _LZ64_CHILD.format(memory=LZ64_MEMORY_BYTES), str(limit)],
            input=raw,
            capture_output=True,
            timeout=LZ64_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise too_large(limit, f" once decompressed (decompressing took over {LZ64_TIMEOUT_SECONDS:g} s)") from None
    if child.returncode == 3:
        raise too_large(limit, " once decompressed")
    if child.returncode != 0 or not child.stdout:
        raise BodyError(400, "invalid_lz64", "The body is not valid LZ-string base64 (compression=lz64).")
    return child.stdout


def json_parse(data: bytes) -> Any:
    if not data.strip():
        raise BodyError(400, "empty_body", "The body is empty.")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, "invalid_utf8", f"The body is not valid UTF-8: {exc}") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "invalid_json", f"The body is not valid JSON: {exc}") from None


def timestamp_parse(value: Any) -> datetime | None:
    """An ISO-8601 string as an aware datetime (no offset means UTC); None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def epoch_ms_parse(value: Any) -> datetime | None:
    """Milliseconds since the epoch (a number or its text) as a UTC datetime."""
    try:
        millis = float(value)
        return datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def skew_corrected(timestamp: datetime, *, sent_at: datetime | None, now: datetime) -> datetime | None:
    """The client's ``timestamp`` in UTC, moved by how far its clock is off the server's.

    ``sent_at`` is when the client's clock said the request left, ``now`` when it arrived:
    ``timestamp + (now - sent_at)``. Transit time counts as skew (it is small). None when
    the result falls outside the calendar.
    """
    try:
        if sent_at is not None:
            timestamp = timestamp + (now - sent_at)
        return timestamp.astimezone(timezone.utc)
    except OverflowError:
        return None


def millis_before(now: datetime, offset: Any) -> datetime | None:
    """``now`` minus ``offset`` milliseconds, for a whole number of milliseconds >= 0."""
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or offset < 0 or offset != int(offset):
        return None
    try:
        return now - timedelta(milliseconds=int(offset))
    except OverflowError:
        return None


def column_text(value: Any, limit: int) -> str | None:
    """A property copied to a column: a non-empty string without control characters, cut
    to the column's length (the property keeps the whole value). None otherwise."""
    if not isinstance(value, str) or not value:
        return None
    if any(ord(ch) < 32 or 127 <= ord(ch) <= 159 for ch in value):
        return None
    return value[:limit]
