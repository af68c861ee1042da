"""The Redis stream between the ingest view and the batch writer.

One stream entry is one accepted request for one project: ``p`` (project id), ``n``
(event count), ``d`` (the rows as JSON lines, ready for ClickHouse) and ``c`` (a catalog
summary: ``{event name: [count, first timestamp, last timestamp]}``, left out when some
events of the request were duplicates). Writers read
through the consumer group ``writers``, ack and delete what they stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import orjson
import redis
from django.conf import settings

GROUP = "writers"

# Appends a request's events, skipping those whose client-chosen event_id this project sent
# within the dedup window, atomically. KEYS = [stream, a dedup key per client-chosen id];
# ARGV = [ttl, project id, catalog, rows...], the rows with client-chosen ids first (one per
# dedup key). Ids the server generated cannot repeat, so they cost no key. Returns one flag
# per row: 1 appended now, 0 already seen.
_APPEND_LUA = """
local ttl = tonumber(ARGV[1])
local checked = #KEYS - 1
local fresh = {}
local flags = {}
for i = 4, #ARGV do
  local row = i - 3
  if row > checked or redis.call('SET', KEYS[row + 1], '1', 'NX', 'EX', ttl) then
    fresh[#fresh + 1] = ARGV[i]
    flags[#flags + 1] = 1
  else
    flags[#flags + 1] = 0
  end
end
if #fresh > 0 then
  local fields = {'p', ARGV[2], 'n', #fresh, 'd', table.concat(fresh, '\\n')}
  if #fresh == #ARGV - 3 then
    -- the catalog summary describes the whole request: keep it only if nothing was skipped
    fields[#fields + 1] = 'c'
    fields[#fields + 1] = ARGV[3]
  end
  redis.call('XADD', KEYS[1], '*', unpack(fields))
end
return flags
"""


@lru_cache(maxsize=None)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


def stream_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:events"


def dedup_key(project_id: int, event_id: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:eid:{project_id}:{event_id}"


@lru_cache(maxsize=None)
def _append_script(url: str):
    return _client_for(url).register_script(_APPEND_LUA)


def stream_append(*, project_id: int, rows: list[dict], supplied_ids: list[bool], catalog: dict) -> int:
    """Append rows to the stream, skipping client-chosen event_ids already seen; return how
    many were appended."""
    checked = [row for row, supplied in zip(rows, supplied_ids) if supplied]
    generated = [row for row, supplied in zip(rows, supplied_ids) if not supplied]
    keys = [stream_key()] + [dedup_key(project_id, row["event_id"]) for row in checked]
    args = [settings.INGEST_EVENT_DEDUP_SECONDS, project_id, orjson.dumps(catalog)] + [orjson.dumps(row) for row in checked + generated]
    return sum(_append_script(settings.REDIS_URL)(keys=keys, args=args))


@dataclass
class Entry:
    id: str
    project_id: int
    count: int
    rows: bytes
    catalog: dict | None
    redelivered: bool

    @property
    def size(self) -> int:
        return len(self.rows)


def _entries(raw, redelivered: bool) -> list[Entry]:
    entries = []
    for entry_id, fields in raw:
        if not fields:  # deleted while pending
            continue
        entries.append(
            Entry(
                id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
                project_id=int(fields[b"p"]),
                count=int(fields[b"n"]),
                rows=fields[b"d"],
                catalog=orjson.loads(fields[b"c"]) if b"c" in fields else None,
                redelivered=redelivered,
            )
        )
    return entries


def group_ensure() -> None:
    try:
        client().xgroup_create(stream_key(), GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def stream_read(*, consumer: str, count: int, claim_idle_ms: int) -> list[Entry]:
    """The next entries for ``consumer``, oldest obligations first.

    1. entries this consumer read earlier and never acked (its own failed flush);
    2. entries another consumer has held for ``claim_idle_ms`` (a dead worker);
    3. new entries.
    The first two are marked ``redelivered``: they may already be in ClickHouse.
    """
    r = client()
    key = stream_key()
    own = r.xreadgroup(GROUP, consumer, {key: "0"}, count=count)
    entries = _entries(own[0][1], redelivered=True) if own else []
    if entries:
        return entries
    claimed = r.xautoclaim(key, GROUP, consumer, min_idle_time=claim_idle_ms, start_id="0-0", count=count)
    entries = _entries(claimed[1], redelivered=True)
    if entries:
        return entries
    fresh = r.xreadgroup(GROUP, consumer, {key: ">"}, count=count)
    return _entries(fresh[0][1], redelivered=False) if fresh else []


def stream_ack(entry_ids: list[str]) -> None:
    """Acknowledge and delete stored entries, so the stream holds only unwritten events."""
    if not entry_ids:
        return
    pipe = client().pipeline(transaction=True)
    pipe.xack(stream_key(), GROUP, *entry_ids)
    pipe.xdel(stream_key(), *entry_ids)
    pipe.execute()


@dataclass(frozen=True)
class Backlog:
    entries: int
    oldest_age_seconds: float | None


def stream_backlog() -> Backlog:
    """Entries not yet written (acked entries are deleted) and the age of the oldest."""
    r = client()
    key = stream_key()
    pipe = r.pipeline(transaction=False)
    pipe.xlen(key)
    pipe.xrange(key, count=1)
    length, first = pipe.execute()
    age = None
    if first:
        first_id = first[0][0].decode()
        age = max(0.0, time.time() - int(first_id.split("-")[0]) / 1000)
    return Backlog(entries=int(length), oldest_age_seconds=age)


def consumers_prune(*, idle_ms: int) -> int:
    """Forget consumers (workers that went away) that hold nothing and were idle this long."""
    r = client()
    removed = 0
    try:
        consumers = r.xinfo_consumers(stream_key(), GROUP)
    except redis.ResponseError:
        return 0
    for consumer in consumers:
        if consumer["pending"] == 0 and consumer["idle"] > idle_ms:
            r.xgroup_delconsumer(stream_key(), GROUP, consumer["name"])
            removed += 1
    return removed
