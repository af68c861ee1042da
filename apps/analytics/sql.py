"""ClickHouse SQL of the analytics area."""

# Raw events, newest first, one page at a time. Keyset pagination: the cursor is the
# (timestamp, event_id) of the last row of the previous page, so a page costs the same
# however deep it is and rows arriving meanwhile never shift it. An empty filter
# parameter matches everything.
EVENTS_PAGE = """
SELECT
    event_id,
    event,
    timestamp,
    distinct_id,
    user_id,
    anonymous_id,
    session_id,
    source,
    page_url,
    referrer,
    properties,
    received_at
FROM events
WHERE project_id = {project_id:UInt64}
  AND timestamp >= {date_from:DateTime64(3, 'UTC')}
  AND timestamp < {date_to:DateTime64(3, 'UTC')}
  AND ({event:String} = '' OR event = {event:String})
  AND ({distinct_id:String} = '' OR distinct_id = {distinct_id:String})
  AND (timestamp, event_id) < ({cursor_ts:DateTime64(3, 'UTC')}, {cursor_id:UUID})
ORDER BY timestamp DESC, event_id DESC
LIMIT {limit:UInt32}
"""
