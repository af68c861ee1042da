"""ClickHouse SQL of the sessions insight, built on the sessions of :mod:`apps.web.sessionize`."""

from __future__ import annotations

from apps.query.sql import bucket
from apps.web.sessionize import sessions, stored_sessions

# Which grouping set a row of :func:`sessions_insight` is (``grouping(bucket, entry_page,
# exit_page)``: a bit is 1 for a column the set leaves out).
BY_BUCKET, BY_ENTRY, BY_EXIT, TOTAL = 0b011, 0b101, 0b110, 0b111


def sessions_insight(interval: str, filters_sql: str = "", *, stored: bool = False) -> str:
    """The figures of the sessions of two periods (``current``: the session starts at or
    after ``current_from``): the totals, and the figures per bucket, per entry page and per
    exit page.

    In two steps: the sessions are first counted per period, bucket, entry and exit page
    (the median as a state: every duration of the group); those few rows are then grouped
    in the four ways (grouping sets), the medians merged. Grouping sets straight over the
    sessions cost three times as much on 10M events (BENCHMARKS.md). Durations are summed
    in whole milliseconds (the same total in any order) and the median is exact. Only the
    current period's sessions get their entry and exit pages worked out (``pages_from``):
    the period before shows none.

    ``stored``: the sessions come from :func:`apps.web.sessionize.stored_sessions` (no
    filters, whole quarter hours), and the pages are hashes (:data:`PAGE_URLS` names them)."""
    rows = stored_sessions(pages_from="current_from") if stored else sessions(filters_sql, pages_from="current_from")
    return f"""
SELECT current, bucket, entry_page, exit_page,
       grouping(bucket, entry_page, exit_page) AS level,
       sum(n) AS sessions,
       sum(duration_ms) / 1000 AS duration_sum,
       quantileExactInclusiveMerge(0.5)(median) AS median_duration,
       sum(bounces) AS bounces,
       sum(pageviews_sum) AS pageviews
FROM (
    SELECT started_at >= {{current_from:DateTime64(3, 'UTC')}} AS current,
           {bucket(interval, 'started_at')} AS bucket,
           entry_page, exit_page,
           count() AS n,
           sum(dateDiff('millisecond', started_at, ended_at)) AS duration_ms,
           quantileExactInclusiveState(0.5)(duration) AS median,
           sum(bounced) AS bounces,
           sum(pageviews) AS pageviews_sum
    FROM ({rows})
    GROUP BY current, bucket, entry_page, exit_page
)
GROUP BY GROUPING SETS ((current), (current, bucket), (current, entry_page), (current, exit_page))
"""


# The page_url of each page hash of a stored session (``hashes``), from the pageviews the
# insight's pages were worked out from. The top pages are the most viewed, so the scan
# finds them early and stops at ``n`` pages.
PAGE_URLS = """
SELECT page, page_url
FROM events
WHERE project_id = {project_id:UInt64}
  AND timestamp >= {current_from:DateTime64(3, 'UTC')} AND timestamp < {scan_to:DateTime64(3, 'UTC')}
  AND event = '$pageview' AND (cityHash64(page_url) AS page) IN {hashes:Array(UInt64)}
LIMIT 1 BY page
LIMIT {n:UInt32}
"""
