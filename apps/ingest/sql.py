"""ClickHouse SQL of the ingest path."""

EVENTS_TABLE = "events"

# Which of a redelivered batch's events are already stored? A flush that crashed after its
# INSERT but before its ack leaves entries that another worker reclaims; this query lets it
# write only the missing ones. The time bounds let ClickHouse prune partitions and skip
# granules by the sort key, which starts (project_id, toDate(timestamp)).
EXISTING_EVENT_IDS = """
SELECT event_id
FROM events
WHERE has({project_ids:Array(UInt64)}, project_id)
  AND timestamp >= {ts_from:DateTime64(3, 'UTC')}
  AND timestamp <= {ts_to:DateTime64(3, 'UTC')}
  AND has({event_ids:Array(UUID)}, event_id)
"""
