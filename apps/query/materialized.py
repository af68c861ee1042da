"""Materialised properties: a column of ``events`` that holds one property's value as text.

A breakdown by (or a filter on) an event property reads the JSON ``properties`` of every
matching event, the widest column there is: about 0.8 s for 5.5M events. For a property that
is broken down by or filtered on often (``$browser``, ``plan``), an operator can give it a
column of its own (``manage.py properties_materialize KEY``), as PostHog's materialised
columns do:

* The column is ``MATERIALIZED`` with exactly the expression queries use
  (:func:`apps.query.sql.property_text` with the key written in), so ClickHouse fills it on
  every insert, and rows stored before compute it on read (the same value) until a
  background mutation has written it into every part.
* Its comment names the key (``property:$browser``). Queries find the columns through
  ``system.columns`` (cached for :data:`CACHE_SECONDS` in each process) and read the column
  instead of the JSON; the figures cannot change, only their speed.

Breakdowns by an event property (trends, metric math, funnels) and the filters that compare
its text (``equals``, ``not_equals``, ``contains``) use the column.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time

from pulseboard import clickhouse

CACHE_SECONDS = 60.0
COMMENT_PREFIX = "property:"
KEY_MAX = 200

_cache: tuple[float, dict[str, str]] | None = None
_cache_lock = threading.Lock()


def column_name(key: str) -> str:
    """The column of ``key``: ``mp_`` and the key's letters and digits (for people reading
    the schema), then 8 hex digits of its hash (so that two keys never share a column)."""
    readable = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")[:40]
    return f"mp_{readable}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _literal(text: str) -> str:
    """``text`` as a ClickHouse string literal: what DDL needs, which takes no parameters."""
    escaped = "".join(
        "\\\\" if ch == "\\" else "\\'" if ch == "'" else f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in text
    )
    return f"'{escaped}'"


# Keys that every JSON writer puts into the text as they are, between two quotes: no quote,
# backslash, slash (some writers escape it), control or non-ASCII character.
_PLAIN_KEY = "'^[A-Za-z0-9_$.: -]*$'"


def keys_may_hold(key: str) -> str:
    """Whether the event's ``property_keys`` signature (ClickHouse migration 0010) allows the
    top-level key ``key`` (SQL: a parameter or a literal): false proves it absent, from 8
    bytes instead of the JSON. As a condition of a scan, it lets ClickHouse skip the JSON of
    whole granules without the key (a PREWHERE); inside an expression evaluated on every
    row, it costs more than it saves for a key that most events have (807-878 against
    903-921 ms for ``plan`` on 5.5M pageviews), so :func:`may_hold` leaves it out."""
    return f"bitTest(property_keys, CRC32({key}) % 64)"


def may_hold(key: str) -> str:
    """Whether ``properties`` may hold the key ``key`` (SQL: a parameter or a literal): false
    only when the key is plain and its quoted text occurs nowhere in the JSON, so that the
    JSON need not be parsed. Parsing is most of what reading a property costs (0.68 s of
    0.75 s for 5.5M events), and most events lack most properties."""
    return f"(position(properties, concat('\"', {key}, '\"')) > 0 OR NOT match({key}, {_PLAIN_KEY}))"


def json_text(key: str) -> str:
    """A property's value as text, read from the JSON (``key``: SQL, a parameter or a
    literal): strings as they are, anything else as its JSON, '' when it is missing."""
    parsed = f"if(JSONType(properties, {key}) = 'String', JSONExtractString(properties, {key}), JSONExtractRaw(properties, {key}))"
    return f"if({may_hold(key)}, {parsed}, '')"


def value_expression(key: str) -> str:
    """The column's expression: :func:`apps.query.sql.property_text` with the key written in."""
    return json_text(_literal(key))


def materialized_properties(*, fresh: bool = False) -> dict[str, str]:
    """Every materialised property, ``{key: column}``, as ``system.columns`` says (cached)."""
    global _cache
    now = time.monotonic()
    cached = _cache
    if cached is not None and not fresh and cached[0] > now:
        return cached[1]
    rows = clickhouse.query(
        "SELECT name, comment FROM system.columns WHERE database = currentDatabase() AND table = 'events'"
        " AND default_kind = 'MATERIALIZED' AND startsWith(comment, {prefix:String})",
        {"prefix": COMMENT_PREFIX},
    ).rows
    found = {comment[len(COMMENT_PREFIX) :]: name for name, comment in rows}
    with _cache_lock:
        _cache = (now + CACHE_SECONDS, found)
    return found


def property_column(key: str) -> str | None:
    """The column that holds ``key``'s value as text, or None when it has none."""
    return materialized_properties().get(key)


def _key_check(key: str) -> None:
    if not key or len(key) > KEY_MAX:
        raise ValueError(f"a property key is 1 to {KEY_MAX} characters long")


def property_materialize(key: str) -> tuple[str, bool]:
    """Give ``key`` its column (if it has none yet) and start writing the column into the
    parts stored before (a background mutation: :func:`materialize_progress`). Returns the
    column and whether it was new."""
    _key_check(key)
    column = column_name(key)
    existing = materialized_properties(fresh=True)
    if existing.get(key) == column:
        return column, False
    clickhouse.command(
        f"ALTER TABLE events ADD COLUMN IF NOT EXISTS {column} String MATERIALIZED {value_expression(key)}"
        f" COMMENT {_literal(COMMENT_PREFIX + key)}"
    )
    clickhouse.command(f"ALTER TABLE events MATERIALIZE COLUMN {column}", None)
    materialized_properties(fresh=True)
    return column, True


def materialize_progress() -> tuple[int, int]:
    """Parts of ``events`` still to write and parts in all, over the pending mutations."""
    rows = clickhouse.query(
        "SELECT sum(parts_to_do) FROM system.mutations WHERE database = currentDatabase() AND table = 'events' AND NOT is_done"
    ).rows
    total = clickhouse.query("SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active").rows
    return int(rows[0][0] or 0) if rows else 0, int(total[0][0])


def property_unmark(key: str) -> str | None:
    """Stop queries reading ``key``'s column (each process within :data:`CACHE_SECONDS`):
    its comment no longer names the key. Returns the column (None when it had none), to
    drop with :func:`column_drop` once no process reads it."""
    _key_check(key)
    column = materialized_properties(fresh=True).get(key)
    if column is not None:
        clickhouse.command(f"ALTER TABLE events COMMENT COLUMN {column} ''")
        materialized_properties(fresh=True)
    return column


def column_drop(column: str) -> None:
    if not re.fullmatch(r"mp_[a-z0-9_]*_[0-9a-f]{8}", column):
        raise ValueError(f"{column} is not a materialised property's column")
    clickhouse.command(f"ALTER TABLE events DROP COLUMN IF EXISTS {column}")
