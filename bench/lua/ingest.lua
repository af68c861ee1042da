-- wrk script of bench/ingest.py, after prelude.lua. The bench fills in its fields with
-- Python's string.Template: target, per_request, pool_size, threads, progress_every, api_key.

-- POST ingest requests until $target events are accepted by all threads together.
local TARGET = $target
local PER_REQUEST = $per_request
local POOL_SIZE = $pool_size
local THREADS = $threads
local PROGRESS_EVERY = $progress_every
-- A connection with nothing left to send sleeps this long: the bench stops wrk first.
local PARK_MS = 3600 * 1000

wrk.method = "POST"
wrk.path = "/api/v1/events"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "$api_key"

-- setup() and done() run in wrk's main Lua state, everything else in one state per
-- thread. The threads share one C array, two numbers per thread: events committed
-- (accepted, or reserved by a request in flight) and requests in flight. Each thread
-- writes only its own pair. A request is sent only while the committed total is below
-- TARGET, so the threads never ask for more than needed and all stop together: a thread
-- that stopped early would leave parked connections that block gunicorn's sync workers.
local threads = {}
local shared

function setup(thread)
  shared = shared or ffi.new("double[?]", 2 * THREADS)
  thread:set("tid", #threads)
  thread:set("shared_address", tonumber(ffi.cast("uintptr_t", shared)))
  threads[#threads + 1] = thread
end

-- Per-thread counters, globals so that done() can read them with thread:get().
accepted, requests, non2xx = 0, 0, 0
first_sent, last_accepted = nil, nil

local slots, inflight, stopped = nil, 0, false
local pool, next_body, next_progress = {}, 0, PROGRESS_EVERY

local NAMES = {"pageview", "click", "signup", "search", "purchase", "checkout"}
local PLANS = {"free", "pro", "team"}

-- No event_id: the server makes one, so identical bodies are still distinct events.
local function event_json()
  return string.format(
    '{"event":"%s","distinct_id":"user-%d","properties":{"plan":"%s","path":"/docs/%d","n":%d}}',
    NAMES[math.random(#NAMES)], math.random(500), PLANS[math.random(#PLANS)], math.random(40), math.random(1000))
end

local function body_json()
  if PER_REQUEST == 1 then
    return event_json()
  end
  local events = {}
  for i = 1, PER_REQUEST do
    events[i] = event_json()
  end
  return '{"events":[' .. table.concat(events, ",") .. ']}'
end

function init(args)
  slots = ffi.cast("double *", shared_address)
  math.randomseed(1000 + tid)
  for i = 1, POOL_SIZE do
    pool[i] = wrk.format(nil, nil, nil, body_json())
  end
end

local function totals()
  local committed, in_flight = 0, 0
  for i = 0, THREADS - 1 do
    committed = committed + slots[2 * i]
    in_flight = in_flight + slots[2 * i + 1]
  end
  return committed, in_flight
end

local function publish()
  slots[2 * tid] = accepted + inflight * PER_REQUEST
  slots[2 * tid + 1] = inflight
end

-- wrk calls delay() before every request: reserve its events here, or park the connection.
function delay()
  if totals() < TARGET then
    inflight = inflight + 1
    publish()
    return 0
  end
  return PARK_MS
end

function request()
  first_sent = first_sent or now()
  next_body = next_body % POOL_SIZE + 1
  return pool[next_body]
end

function response(status, headers, body)
  inflight = inflight - 1
  requests = requests + 1
  if status == 202 then
    accepted = accepted + tonumber(body:match('"accepted":(%d+)'))
    last_accepted = now()
    if accepted >= next_progress then
      emit(string.format("PB_PROGRESS %d %d", tid, accepted))
      next_progress = accepted + PROGRESS_EVERY
    end
  elseif status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  publish()
  local committed, in_flight = totals()
  if not stopped and inflight == 0 and committed >= TARGET then
    stopped = true
    emit("PB_THREAD_DONE " .. tid)
    if in_flight == 0 then
      emit("PB_ALL_DONE")
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, _)
  local total = {accepted = 0, requests = 0, non2xx = 0}
  local first, last = math.huge, 0
  for _, thread in ipairs(threads) do
    for name in pairs(total) do
      total[name] = total[name] + (thread:get(name) or 0)
    end
    first = math.min(first, thread:get("first_sent") or math.huge)
    last = math.max(last, thread:get("last_accepted") or 0)
  end
  local e = summary.errors
  emit(string.format(
    "PB_RESULT accepted=%d requests=%d non2xx=%d first_sent=%.6f last_accepted=%.6f p50_ms=%.3f p99_ms=%.3f socket_errors=%d",
    total.accepted, total.requests, total.non2xx, first, last,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write))
end
