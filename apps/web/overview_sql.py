"""ClickHouse SQL of the web overview: every list and the totals from one scan of events.

Each list is one column of ``events`` (:data:`DIMENSIONS`, migration 0008: ingest or
ClickHouse fills them on insert, so no URL or user agent is parsed here). The query reads
the range's pageviews once, maps each row's key to its person (:func:`with_persons`), and
counts visitors (distinct persons) and pageviews per value of each list with ``GROUPING
SETS``: one grouping per list, plus the empty one for the totals; ``LIMIT n BY`` keeps the
top of each list.

The person join meets every pageview rather than rows aggregated per key first (as
:mod:`apps.query.persons` prefers): measured on 10M demo events, aggregating per key and
combination of values first (0.4M rows for all lists but pages, 0.9M for pages) was about
1.5x slower than this, and grouping sets of (person, value) pairs 2.5x.
"""

from __future__ import annotations

from apps.query.persons import with_persons
from apps.web.sessionize import sessions

PAGEVIEW_EVENT = "$pageview"
# The referrer_domain of a pageview without referrer (migration 0008).
DIRECT = "$direct"

# Per list: its column. '' leaves a row out of the pages, referrer and UTM lists (no page, a
# referrer of the site itself, no such parameter); for browsers, OS, devices and countries
# it is a value of its own ("Unknown").
DIMENSIONS = {
    "pages": "page_path",
    "referrers": "referrer_domain",
    "utm_sources": "utm_source",
    "utm_mediums": "utm_medium",
    "utm_campaigns": "utm_campaign",
    "browsers": "browser",
    "os": "os",
    "devices": "device_type",
    "countries": "country",
}
# Lists that leave out the rows whose value is ''.
SKIP_EMPTY = ("pages", "referrers", "utm_sources", "utm_mediums", "utm_campaigns")


def overview_sql(*, lists: tuple[str, ...], where: str, totals: bool) -> str:
    """Rows ``(list, value, visitors, pageviews)``: the top ``{limit:UInt32}`` values of
    each of ``lists``, most visitors first, and with ``totals`` one row for all the range's
    pageviews (``list`` ''). ``where`` holds the filters, ``AND``-ed after the range."""
    width = len(lists)
    names = ", ".join(f"d{i}" for i in range(width))
    columns = ", ".join(f"{DIMENSIONS[name]} AS d{i}" for i, name in enumerate(lists))
    sets = ", ".join([f"(d{i})" for i in range(width)] + (["()"] if totals else []))
    # grouping() has a bit per column, the first one highest, set when the row's set does
    # not group by it: each list's set leaves exactly its own bit clear.
    full = (1 << width) - 1
    masks = [full ^ (1 << (width - 1 - i)) for i in range(width)]
    list_of = ", ".join(f"grouping({names}) = {mask}, '{name}'" for mask, name in zip(masks, lists))
    value_of = ", ".join(f"grouping({names}) = {mask}, d{i}" for i, mask in enumerate(masks))
    rows = f"""
        SELECT person_key, {columns}
        FROM events
        WHERE project_id = {{project_id:UInt64}}
          AND event = '{PAGEVIEW_EVENT}'
          AND timestamp >= {{date_from:DateTime64(3, 'UTC')}} AND timestamp < {{date_to:DateTime64(3, 'UTC')}}{where}"""
    return f"""
SELECT multiIf({list_of}, '') AS list, multiIf({value_of}, '') AS value, uniqExact(person) AS visitors, count() AS pageviews
FROM ({with_persons(rows)})
GROUP BY GROUPING SETS ({sets})
HAVING NOT (list IN {SKIP_EMPTY} AND value = '')
ORDER BY list, visitors DESC, pageviews DESC, value
LIMIT {{limit:UInt32}} BY list
"""


def session_pages_sql(where: str) -> str:
    """Rows ``(list, value, visitors, sessions, pageviews)``: the top ``{limit:UInt32}``
    entry and exit pages (the paths of the first and last pageview of each session that
    starts in the range; :mod:`apps.web.sessionize`, whose parameters it takes) with the
    persons and sessions that entered or left there and those sessions' pageviews.
    ``where`` holds the filters, applied to the events before they are sessionized."""
    rows = f"SELECT person_key, entry_page AS entry, exit_page AS exit, pageviews FROM ({sessions(where, page='page_path')})"
    return f"""
SELECT if(grouping(entry, exit) = 1, 'entry_pages', 'exit_pages') AS list, if(grouping(entry, exit) = 1, entry, exit) AS value,
       uniqExact(person) AS visitors, count() AS sessions, sum(pageviews) AS pageviews
FROM ({with_persons(rows)})
GROUP BY GROUPING SETS ((entry), (exit))
HAVING value != ''
ORDER BY list, visitors DESC, sessions DESC, value
LIMIT {{limit:UInt32}} BY list
"""


def filter_sql(name: str, param: str) -> str:
    """The condition of a filter on list ``name``: its value equals the parameter."""
    return f"\n          AND {DIMENSIONS[name]} = {{{param}:String}}"
