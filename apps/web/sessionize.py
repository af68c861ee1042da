"""Sessions: the one SQL building block that tells which session each event belongs to.

The definition, which every figure built on sessions shares:

* An event with a ``session_id`` belongs to the session of that id, whoever sent it (a
  session in which a visitor logs in stays one session).
* Events without one are grouped per person (every id merged into a person is that
  person: :mod:`apps.query.persons`), in time order; an event more than the gap after the
  person's previous event starts a new session. A gap of exactly the setting stays in the
  session, as in PostHog and Google Analytics.
* Events are in order of time, then of event id (ClickHouse's order of UUIDs: the low 64
  bits, then the high ones), so that ties in time give the same first and last event on
  every run.
* A session belongs to the range, and to the bucket, of its first event. Its figures are
  those of all its events, also the ones after the range.

How far a query looks: the events from :data:`REACH` before the range to :data:`REACH`
after it. That is exact for the start of every inferred session (the gap is at most 240
minutes), and for any session with an id shorter than :data:`REACH`; a longer one is judged
by its events within that reach (a session split by a day of silence is two visits anyway).

:func:`session_events` gives each scanned event its ``session_key``; :func:`sessions`
aggregates them into one row per session that starts in the range. Both take their values
from :func:`sessionize_params`. :func:`stored_sessions` gives the same rows (pages as
hashes) from what ClickHouse keeps of each session with an id per quarter hour
(``session_parts_15m``), in less than half the time, when nothing is filtered and every
bound is a whole quarter hour (:func:`stored_sessions_serve`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apps.ingest.sql import NO_ENTRY, PACKED_PAGE_HASH, PAGEVIEW_PACKED
from apps.query.persons import with_persons

REACH = timedelta(hours=24)
GAP_MIN, GAP_MAX = 1, 240

# ``session_key``: the hash of the event's session_id, 0 without one (ClickHouse migration 0009).
_SCANNED = """SELECT session_key, person_key, timestamp, event_id, event, {page}
    FROM events
    WHERE project_id = {{project_id:UInt64}}
      AND timestamp >= {{scan_from:DateTime64(3, 'UTC')}} AND timestamp < {{scan_to:DateTime64(3, 'UTC')}}
      AND session_key {test} 0{filters}"""

# Rows of one person in time order, for the inferred sessions.
_PERSON_ORDER = "PARTITION BY person ORDER BY timestamp, event_id"

# An event's place in time order as one number: its millisecond, then its id as ClickHouse
# orders UUIDs (their UInt128). It sorts exactly as ``(timestamp, event_id)`` does, and a
# first or last event found by it (argMin, argMax, arraySort) costs half as much as by the
# tuple, on the 10M events of bench/sessions.py.
EVENT_ORDER = (
    "toUInt256(toUnixTimestamp64Milli(timestamp)) * toUInt256('340282366920938463463374607431768211456')"
    " + toUInt256(reinterpretAsUInt128(event_id))"
)


def sessionize_params(*, project_id: int, date_from: datetime, date_to: datetime, gap_minutes: int) -> dict:
    """The parameters of :func:`session_events` and :func:`sessions`: the range of the
    sessions' first events ``[date_from, date_to)``, the events scanned around it, the gap."""
    return {
        "project_id": project_id,
        "date_from": date_from,
        "date_to": date_to,
        "scan_from": date_from - REACH,
        "scan_to": date_to + REACH,
        "gap_ms": gap_minutes * 60_000,
    }


def _inferred(filters_sql: str, page: str) -> str:
    """The events without a session id, mapped to their person and numbered per person
    (``starts``: 1 where the time since the person's previous event exceeds the gap, or
    there is none), keyed by a hash of the person and that number."""
    without_id = with_persons(_SCANNED.format(test="=", filters=filters_sql, page=page))
    return f"""
    SELECT cityHash64(person, sum(starts) OVER ({_PERSON_ORDER} ROWS UNBOUNDED PRECEDING)) AS session_key,
           person_key, timestamp, event_id, event, {page}
    FROM (
        SELECT *, ifNull(dateDiff('millisecond', lagInFrame(toNullable(timestamp)) OVER ({_PERSON_ORDER} ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), timestamp) > {{gap_ms:UInt64}}, 1) AS starts
        FROM ({without_id})
    )"""


def session_events(filters_sql: str = "", *, page: str = "page_url") -> str:
    """Every event scanned, with its ``session_key`` (UInt64): columns ``session_key,
    person_key, timestamp, event_id, event`` and ``page`` (``page_url``, or ``page_path``:
    the page as the page lists name it). ``filters_sql`` are ``AND``-ed conditions on
    ``events`` (:func:`apps.query.sql.property_filters`): only the events that meet them
    are sessionized.

    Events with an id are keyed by its hash (the stored ``session_key``), the others by
    their inferred session (:func:`_inferred`)."""
    with_id = _SCANNED.format(test="!=", filters=filters_sql, page=page)
    return f"""
    SELECT session_key, person_key, timestamp, event_id, event, {page}
    FROM ({with_id})
    UNION ALL{_inferred(filters_sql, page)}"""


def sessions(filters_sql: str = "", *, page: str = "page_url", pages_from: str = "") -> str:
    """One row per session whose first event is in ``[date_from, date_to)``: ``session_key;
    person_key`` (of its first event: map it with :func:`apps.query.persons.with_persons`
    to count persons); ``started_at``, ``ended_at``; ``duration`` (seconds, last event minus
    first, to the millisecond); ``events``; ``pageviews``; ``entry_page`` and ``exit_page``
    (``page`` of its first and last ``$pageview``: ``page_url`` or ``page_path``, '' without
    one); ``bounced`` (1 when its only event is a single ``$pageview`` or ``$screen``).

    ``pages_from`` names a DateTime64 parameter: only the pageviews at or after it are then
    weighed for the entry and exit pages. That is exact for every session that starts at or
    after it, and spares the work for the others, whose pages are then wrong and must not be
    shown: the insight's period before has figures but no pages."""
    order = EVENT_ORDER
    pageview = "event = '$pageview'" + (f" AND timestamp >= {{{pages_from}:DateTime64(3, 'UTC')}}" if pages_from else "")
    return f"""
    SELECT session_key,
           argMin(person_key, {order}) AS person_key,
           min(timestamp) AS started_at,
           max(timestamp) AS ended_at,
           dateDiff('millisecond', started_at, ended_at) / 1000 AS duration,
           count() AS events,
           countIf(event = '$pageview') AS pageviews,
           argMinIf({page}, {order}, {pageview}) AS entry_page,
           argMaxIf({page}, {order}, {pageview}) AS exit_page,
           events = 1 AND any(event) IN ('$pageview', '$screen') AS bounced
    FROM ({session_events(filters_sql, page=page)})
    GROUP BY session_key
    HAVING started_at >= {{date_from:DateTime64(3, 'UTC')}} AND started_at < {{date_to:DateTime64(3, 'UTC')}}"""


# Every bound of a query must be a whole quarter hour for :func:`stored_sessions`.
QUARTER_HOUR = timedelta(minutes=15)


def stored_sessions_serve(params: dict, *bounds: str) -> bool:
    """Whether :func:`stored_sessions` gives exactly what :func:`sessions` would for these
    parameters: the range, its reach and the named ``bounds`` (DateTime parameters) are
    whole quarter hours, the stored rows' unit. Filters are the caller's to rule out."""
    names = ("date_from", "date_to", "scan_from", "scan_to", *bounds)
    return all(params[name].timestamp() % QUARTER_HOUR.total_seconds() == 0 for name in names)


def stored_sessions(*, pages_from: str) -> str:
    """:func:`sessions` without filters, from ``session_parts_15m`` (ClickHouse migration
    0011) for the sessions with an id and from ``events`` for the others: the same rows
    but for the pages, which are the ``cityHash64`` of the ``page_url`` (0 for none or an
    empty one), and without ``person_key``. Exact when :func:`stored_sessions_serve` says so.

    A stored row holds a quarter hour of a session (of one person key); an event without
    an id becomes a row of its own, shaped alike, so that one grouping gives every session.
    ``pages_from`` is as for :func:`sessions`: a stored quarter hour counts for the pages
    when it starts at or after it."""
    pages_at = f"{{{pages_from}:DateTime64(3, 'UTC')}}"
    pageview = "event = '$pageview'"
    stored = """
        SELECT session_key, toDateTime64(slot, 3, 'UTC') AS at, started, ended, events, pageviews, bounceable, entry, exit
        FROM session_parts_15m
        WHERE project_id = {project_id:UInt64}
          AND slot >= toDateTime({scan_from:DateTime64(3, 'UTC')}) AND slot < toDateTime({scan_to:DateTime64(3, 'UTC')})"""
    inferred = f"""
        SELECT session_key, timestamp AS at, timestamp AS started, timestamp AS ended, toUInt64(1) AS events,
               toUInt64({pageview}) AS pageviews, toUInt64(event IN ('$pageview', '$screen')) AS bounceable,
               if({pageview}, {PAGEVIEW_PACKED}, {NO_ENTRY}) AS entry, if({pageview}, {PAGEVIEW_PACKED}, toUInt256(0)) AS exit
        FROM ({_inferred("", "page_url")})"""
    return f"""
    SELECT session_key,
           min(started) AS started_at,
           max(ended) AS ended_at,
           dateDiff('millisecond', started_at, ended_at) / 1000 AS duration,
           sum(events) AS events,
           sum(pageviews) AS pageviews,
           minIf(entry, at >= {pages_at}) AS first_view,
           maxIf(exit, at >= {pages_at}) AS last_view,
           if(first_view = 0 OR first_view = {NO_ENTRY}, 0, {PACKED_PAGE_HASH.format(packed="first_view")}) AS entry_page,
           {PACKED_PAGE_HASH.format(packed="last_view")} AS exit_page,
           events = 1 AND sum(bounceable) = 1 AS bounced
    FROM ({stored}
        UNION ALL{inferred}
    )
    GROUP BY session_key
    HAVING started_at >= {{date_from:DateTime64(3, 'UTC')}} AND started_at < {{date_to:DateTime64(3, 'UTC')}}"""
