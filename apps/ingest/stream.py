"""The Redis stream between the ingest view and the batch writer.

One stream entry is one accepted request for one project: ``p`` (project id), ``n``
(event count), ``d`` (the rows as JSON lines, ready for ClickHouse) and ``c`` (a catalog
summary: ``{event name: [count, first timestamp, last timestamp]}``, left out when some
events of the request were duplicates). Writers read through the consumer group
``writers``, and settle what they stored: ack and delete it, and move the rows ClickHouse
refused to the dead-letter stream, in one atomic step.

Before a writer inserts a batch it records the batch's members (its *manifest*), so that
a batch read again after a crash is rebuilt exactly as it was and inserted again with the
same rows (see :mod:`apps.ingest.services`).
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import orjson
import redis
from django.conf import settings

GROUP = "writers"

# An ingest key's rate limit and daily quota (see :mod:`apps.ingest.gate`): refill the key's
# token bucket for the time passed, then take ``cost`` tokens from it and count ``cost``
# events for the day, or take nothing at all. The bucket is a hash {t: tokens, at: when};
# a rate of 0 means no bucket, a quota of 0 no quota. Returns {verdict, tokens left (as
# text), used today}: verdict 1 taken, 0 short of tokens, 2 over the quota. The clock is the
# application's (passed in): servers agree on it to NTP precision, and a clock that steps
# back never refills a bucket twice.
_LIMIT_LUA = """
local function limit_take(bucket, day, now, rate, burst, cost, quota, day_ttl)
  local tokens = burst
  if rate > 0 then
    local state = redis.call('HMGET', bucket, 't', 'at')
    if state[1] then
      local at = tonumber(state[2])
      tokens = math.min(burst, tonumber(state[1]))
      if now > at then
        tokens = math.min(burst, tokens + (now - at) * rate)
      else
        now = at
      end
    end
    if cost > tokens then
      return {0, tostring(tokens), tonumber(redis.call('GET', day) or '0')}
    end
  end
  local used = tonumber(redis.call('GET', day) or '0')
  if quota > 0 and used + cost > quota then
    return {2, tostring(tokens), used}
  end
  if rate > 0 then
    redis.call('HSET', bucket, 't', tostring(tokens - cost), 'at', tostring(now))
    redis.call('PEXPIRE', bucket, math.ceil(burst / rate * 1000) + 1000)
  end
  used = redis.call('INCRBY', day, cost)
  if used == cost then
    redis.call('EXPIRE', day, day_ttl)
  end
  return {1, tostring(tokens - cost), used}
end
local function limit_of(first_key, first_arg)
  return KEYS[first_key], KEYS[first_key + 1], tonumber(ARGV[first_arg]), tonumber(ARGV[first_arg + 1]),
    tonumber(ARGV[first_arg + 2]), tonumber(ARGV[first_arg + 3]), tonumber(ARGV[first_arg + 4]), tonumber(ARGV[first_arg + 5])
end
"""

# The limit on its own, for a request that appends nothing. KEYS = [bucket, day counter];
# ARGV = [now (s), rate (events/s), burst, cost, quota, day counter ttl].
_TAKE_LUA = _LIMIT_LUA + "return limit_take(limit_of(1, 1))"

# Appends a request's events, skipping those whose client-chosen event_id this project sent
# within the dedup window, and takes the request's cost from its key's limit, atomically.
# KEYS = [stream, deleted projects, bucket, day counter, a dedup key per client-chosen id];
# ARGV = [ttl, project id, catalog, the limit's 6 arguments (as for _TAKE_LUA; rate and
# quota 0 without a limit), rows...], the rows with client-chosen ids first (one per dedup
# key). Ids the server generated cannot repeat, so they cost no key.
# Returns {1, a flag per row (1 appended now, 0 already seen), the limit's reply or {}};
# {0, the limit's reply} when the limit refuses, appending nothing; or {-1}, appending
# nothing, when the project was deleted (checked in the same atomic step, so nothing is
# appended after).
_APPEND_LUA = _LIMIT_LUA + """
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return {-1} end
local limit = {}
if tonumber(ARGV[5]) > 0 or tonumber(ARGV[8]) > 0 then
  limit = limit_take(limit_of(3, 4))
  if limit[1] ~= 1 then return {0, limit} end
end
local ttl = tonumber(ARGV[1])
local checked = #KEYS - 4
local fresh = {}
local flags = {}
for i = 10, #ARGV do
  local row = i - 9
  if row > checked or redis.call('SET', KEYS[row + 4], '1', 'NX', 'EX', ttl) then
    fresh[#fresh + 1] = ARGV[i]
    flags[#flags + 1] = 1
  else
    flags[#flags + 1] = 0
  end
end
if #fresh > 0 then
  local fields = {'p', ARGV[2], 'n', #fresh, 'd', table.concat(fresh, '\\n')}
  if #fresh == #ARGV - 9 then
    -- the catalog summary describes the whole request: keep it only if nothing was skipped
    fields[#fields + 1] = 'c'
    fields[#fields + 1] = ARGV[3]
  end
  redis.call('XADD', KEYS[1], '*', unpack(fields))
end
return {1, flags, limit}
"""


@lru_cache(maxsize=None)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)


def client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


@lru_cache(maxsize=None)
def script(url: str, text: str):
    """A Lua script on the Redis at ``url``, registered once per process (EVALSHA after)."""
    return _client_for(url).register_script(text)


def stream_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:events"


def deadletter_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:deadletter"


def _batch_of_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:batch-of"


def _batch_key(batch_id: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:batch:{batch_id}"


def dedup_key(project_id: int, event_id: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:eid:{project_id}:{event_id}"


def dedup_forget(*, project_id: int, event_ids: list[str]) -> int:
    """Forget these event ids of a project (their events were deleted), so that events sent
    again with the same ids are stored again; return how many were remembered."""
    forgotten = 0
    r = client()
    for start in range(0, len(event_ids), 1000):
        forgotten += r.delete(*(dedup_key(project_id, event_id) for event_id in event_ids[start : start + 1000]))
    return forgotten


def _deleted_projects_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:deleted-projects"


class ProjectDeleted(Exception):
    """The project was deleted: its events are refused (ingest) and dropped (the flush)."""


def project_tombstone(project_id: int) -> None:
    """Mark a project deleted, for every process at once: from now on the stream takes no
    event of it, and the flush writes none of those still in the stream. Project ids are
    never reused, so the mark stays (a few bytes a project)."""
    client().sadd(_deleted_projects_key(), project_id)


def projects_deleted(project_ids) -> set[int]:
    """Which of these projects were deleted."""
    ids = sorted(set(project_ids))
    if not ids:
        return set()
    flags = client().smismember(_deleted_projects_key(), ids)
    return {project_id for project_id, flag in zip(ids, flags) if flag}


@dataclass(frozen=True)
class Limit:
    """A charge against an ingest key's rate limit and daily quota, taken in one atomic step
    (see :mod:`apps.ingest.gate`). ``rate`` and ``quota`` are 0 when the key has none."""

    bucket_key: str
    day_key: str
    now: float  # seconds since the epoch
    rate: int  # tokens (events) a second
    burst: int  # the bucket's size
    cost: int  # events
    quota: int  # events a UTC day
    day_ttl: int  # seconds the day counter is kept

    def args(self) -> list:
        return [repr(self.now), self.rate, self.burst, self.cost, self.quota, self.day_ttl]


@dataclass(frozen=True)
class LimitReply:
    """What Redis answered a :class:`Limit`: ``verdict`` 1 taken, 0 short of tokens, 2 over
    the quota; the tokens left in the bucket and the events counted today, after it."""

    verdict: int
    tokens: float
    used: int

    @classmethod
    def of(cls, raw) -> LimitReply:
        verdict, tokens, used = raw
        return cls(int(verdict), float(tokens), int(used))


class LimitReached(Exception):
    """The key's limit refused the request; nothing of it was appended."""

    def __init__(self, reply: LimitReply):
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class Appended:
    count: int  # rows appended (client-chosen ids seen before are skipped)
    limit: LimitReply | None  # the limit's state after it was taken; None without a limit


def limit_take(limit: Limit) -> LimitReply:
    """Take a limit on its own, for a request that appends nothing."""
    return LimitReply.of(script(settings.REDIS_URL, _TAKE_LUA)(keys=[limit.bucket_key, limit.day_key], args=limit.args()))


def stream_append(*, project_id: int, rows: list[dict], supplied_ids: list[bool], catalog: dict, limit: Limit | None = None) -> Appended:
    """Append rows to the stream, skipping client-chosen event_ids already seen, and take
    ``limit`` in the same atomic step. Raises :class:`ProjectDeleted` for a deleted project,
    and :class:`LimitReached` when the limit refuses; either way nothing is appended."""
    checked = [row for row, supplied in zip(rows, supplied_ids) if supplied]
    generated = [row for row, supplied in zip(rows, supplied_ids) if not supplied]
    # Without a limit its two keys are never touched: the stream's name fills their places.
    limit_keys = [limit.bucket_key, limit.day_key] if limit else [stream_key(), stream_key()]
    keys = [stream_key(), _deleted_projects_key(), *limit_keys] + [dedup_key(project_id, row["event_id"]) for row in checked]
    args = [settings.INGEST_EVENT_DEDUP_SECONDS, project_id, orjson.dumps(catalog)]
    args += limit.args() if limit else [0, 0, 0, 0, 0, 0]
    args += [orjson.dumps(row) for row in checked + generated]
    reply = script(settings.REDIS_URL, _APPEND_LUA)(keys=keys, args=args)
    if reply[0] == -1:
        raise ProjectDeleted(project_id)
    if reply[0] == 0:
        raise LimitReached(LimitReply.of(reply[1]))
    _, flags, taken = reply
    return Appended(count=sum(flags), limit=LimitReply.of(taken) if taken else None)


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


def entries_fetch(entry_ids: list[str]) -> dict[str, Entry]:
    """The entries with these ids that are still in the stream (redelivered: they were read
    before), by id."""
    pipe = client().pipeline(transaction=False)
    for entry_id in entry_ids:
        pipe.xrange(stream_key(), min=entry_id, max=entry_id, count=1)
    found = {}
    for raw in pipe.execute():
        for entry in _entries(raw, redelivered=True):
            found[entry.id] = entry
    return found


# --- Manifests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """The stream entries of one batch, in insert order. ``verified`` is false for a batch
    whose rows were checked against ClickHouse and cut to those it did not hold yet."""

    batch_id: str
    entry_ids: list[str]
    verified: bool


def manifest_record(*, entry_ids: list[str], verified: bool) -> Manifest:
    """Record a batch's members before its insert; the batch is named after its first entry."""
    manifest = Manifest(batch_id=entry_ids[0], entry_ids=list(entry_ids), verified=verified)
    pipe = client().pipeline(transaction=True)
    pipe.set(_batch_key(manifest.batch_id), ("v " if verified else "u ") + " ".join(entry_ids))
    pipe.hset(_batch_of_key(), mapping={entry_id: manifest.batch_id for entry_id in entry_ids})
    pipe.execute()
    return manifest


def manifests_of(entry_ids: list[str]) -> dict[str, Manifest]:
    """The recorded manifest of each of these entries that has one, by entry id."""
    if not entry_ids:
        return {}
    r = client()
    batch_ids = r.hmget(_batch_of_key(), entry_ids)
    wanted = sorted({b.decode() for b in batch_ids if b is not None})
    texts = r.mget([_batch_key(b) for b in wanted]) if wanted else []
    manifests = {}
    for batch_id, text in zip(wanted, texts):
        if text is None:
            continue
        kind, *members = text.decode().split(" ")
        manifests[batch_id] = Manifest(batch_id=batch_id, entry_ids=members, verified=kind == "v")
    return {
        entry_id: manifests[b.decode()]
        for entry_id, b in zip(entry_ids, batch_ids)
        if b is not None and b.decode() in manifests
    }


# --- Settling a batch ---------------------------------------------------------------------

# Acks and deletes a batch's entries, forgets its manifest, and appends the rows ClickHouse
# refused to the dead-letter stream, all at once. If the manifest is already gone, another
# writer settled the same batch first: the entries are acked again (harmless) and nothing
# is dead-lettered twice.
# KEYS = [stream, dead-letter stream, batch-of hash, manifest]; ARGV = [group, entry count,
# entry ids..., then per refused row: project id, row, error code, error message].
_SETTLE_LUA = """
local n = tonumber(ARGV[2])
local first_settle = redis.call('DEL', KEYS[4]) == 1
if first_settle then
  for i = 3 + n, #ARGV, 4 do
    redis.call('XADD', KEYS[2], '*', 'p', ARGV[i], 'd', ARGV[i + 1], 'c', ARGV[i + 2], 'e', ARGV[i + 3])
  end
end
for start = 1, n, 500 do
  local ids = {}
  for i = start, math.min(n, start + 499) do ids[#ids + 1] = ARGV[2 + i] end
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
  redis.call('HDEL', KEYS[3], unpack(ids))
end
return first_settle and 1 or 0
"""


@dataclass(frozen=True)
class DeadRow:
    """A row ClickHouse refused, and why."""

    project_id: int
    row: bytes
    code: int | None
    error: str


def batch_settle(*, manifest: Manifest, dead: list[DeadRow]) -> None:
    """The batch is stored, but for ``dead``: ack and delete its entries and dead-letter those rows."""
    args: list = [GROUP, len(manifest.entry_ids), *manifest.entry_ids]
    for row in dead:
        args += [row.project_id, row.row, "" if row.code is None else row.code, row.error[:2000]]
    keys = [stream_key(), deadletter_key(), _batch_of_key(), _batch_key(manifest.batch_id)]
    script(settings.REDIS_URL, _SETTLE_LUA)(keys=keys, args=args)


# --- Writers and the reconciler -------------------------------------------------------------

# Batch writers share the right to write; the rollup reconciler takes it alone, so that it
# compares and repairs tables that no insert is half-way through. A writer's hold is a
# lease (a sorted set of holders by deadline), so a dead writer stops blocking on its own.
_WRITER_LUA = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[2]), ARGV[1])
return 1
"""
# Returns how many writers still hold a lease (the reconciler may start at 0), or -1 when
# another reconciler holds the exclusive lock.
_EXCLUSIVE_LUA = """
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t[1] * 1000 + math.floor(t[2] / 1000))
return redis.call('ZCARD', KEYS[1])
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

WRITER_LEASE_MS = 10 * 60 * 1000


class WriteLockBusy(Exception):
    """The reconciler holds the write lock: the batch stays pending and is written later."""


def _lock_keys() -> list[str]:
    prefix = settings.REDIS_KEY_PREFIX
    return [f"{prefix}:writers", f"{prefix}:reconciling"]


@contextmanager
def writer_lease(*, wait_seconds: float = 30.0):
    """Hold a writer's share of the write lock while inserting and settling one batch."""
    token = uuid.uuid4().hex
    writer = script(settings.REDIS_URL, _WRITER_LUA)
    deadline = time.monotonic() + wait_seconds
    while not writer(keys=_lock_keys(), args=[token, WRITER_LEASE_MS]):
        if time.monotonic() > deadline:
            raise WriteLockBusy("the rollup reconciler holds the write lock")
        time.sleep(0.05)
    try:
        yield
    finally:
        client().zrem(_lock_keys()[0], token)


@contextmanager
def writers_excluded(*, wait_seconds: float = 60.0, hold_seconds: float = 600.0):
    """Hold the write lock alone: no batch is being written while inside. Raises
    :class:`WriteLockBusy` if writers do not finish within ``wait_seconds``."""
    token = uuid.uuid4().hex
    keys = _lock_keys()
    acquire = script(settings.REDIS_URL, _EXCLUSIVE_LUA)
    release = script(settings.REDIS_URL, _RELEASE_LUA)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            holders = acquire(keys=keys, args=[token, int(hold_seconds * 1000)])
            if holders == 0:
                break
            if time.monotonic() > deadline:
                raise WriteLockBusy("batch writers did not finish in time" if holders > 0 else "another reconciler is running")
            time.sleep(0.05)
        yield
    finally:
        release(keys=[keys[1]], args=[token])


# --- The dead-letter stream -----------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    id: str
    project_id: int
    row: dict
    code: int | None
    error: str

    @property
    def refused_at(self) -> float:
        """When it was refused, in seconds since the epoch (from the entry id)."""
        return int(self.id.split("-")[0]) / 1000


def _dead_letter(entry_id, fields) -> DeadLetter:
    code = fields.get(b"c", b"")
    return DeadLetter(
        id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        project_id=int(fields[b"p"]),
        row=orjson.loads(fields[b"d"]),
        code=int(code) if code else None,
        error=fields.get(b"e", b"").decode(errors="replace"),
    )


def deadletter_count() -> int:
    return int(client().xlen(deadletter_key()))


def deadletters(*, project_id: int | None = None, limit: int = 100, scan: int = 10_000) -> list[DeadLetter]:
    """Refused rows, newest first; of one project when ``project_id`` is given. Looks at
    the newest ``scan`` entries at most."""
    found = []
    for entry_id, fields in client().xrevrange(deadletter_key(), count=scan):
        if project_id is not None and int(fields[b"p"]) != project_id:
            continue
        found.append(_dead_letter(entry_id, fields))
        if len(found) >= limit:
            break
    return found


# Moves dead-lettered rows back into the event stream, one stream entry per row, and
# deletes them from the dead-letter stream, atomically per call.
# KEYS = [stream, dead-letter stream]; ARGV = dead-letter entry ids.
_REPLAY_LUA = """
local moved = 0
for i = 1, #ARGV do
  local found = redis.call('XRANGE', KEYS[2], ARGV[i], ARGV[i])
  if #found == 1 then
    local fields = found[1][2]
    local p, d
    for j = 1, #fields, 2 do
      if fields[j] == 'p' then p = fields[j + 1] elseif fields[j] == 'd' then d = fields[j + 1] end
    end
    redis.call('XADD', KEYS[1], '*', 'p', p, 'n', 1, 'd', d)
    redis.call('XDEL', KEYS[2], ARGV[i])
    moved = moved + 1
  end
end
return moved
"""


def deadletters_replay(*, entry_ids: list[str]) -> int:
    """Send these refused rows through the batch writer again; return how many moved."""
    if not entry_ids:
        return 0
    replay = script(settings.REDIS_URL, _REPLAY_LUA)
    moved = 0
    for start in range(0, len(entry_ids), 500):
        moved += replay(keys=[stream_key(), deadletter_key()], args=entry_ids[start : start + 500])
    return moved


def deadletters_drop(*, entry_ids: list[str]) -> int:
    """Delete refused rows for good; return how many were deleted."""
    if not entry_ids:
        return 0
    return int(client().xdel(deadletter_key(), *entry_ids))


# --- How the flush is doing ------------------------------------------------------------------


def _flush_status_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:flush-status"


def flush_status_record(*, error: str | None) -> None:
    """Note a flush run's outcome: the time of the last success, or the last error."""
    now = f"{time.time():.3f}"
    if error is None:
        client().hset(_flush_status_key(), mapping={"ok_at": now})
    else:
        client().hset(_flush_status_key(), mapping={"error_at": now, "error": error[:1000]})


def flush_status() -> dict:
    """``last_ok_at`` and, if the last run since then failed, ``last_error`` and ``last_error_at``
    (seconds since the epoch)."""
    raw = {k.decode(): v.decode() for k, v in client().hgetall(_flush_status_key()).items()}
    status: dict = {"last_ok_at": float(raw["ok_at"]) if "ok_at" in raw else None}
    if "error_at" in raw and float(raw["error_at"]) > (status["last_ok_at"] or 0):
        status["last_error"] = raw.get("error", "")
        status["last_error_at"] = float(raw["error_at"])
    return status


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
