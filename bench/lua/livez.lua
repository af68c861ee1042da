-- wrk script of bench/ingest.py, after prelude.lua: GET /livez, the single-event baseline.

wrk.method = "GET"

function done(summary, latency, _)
  local e = summary.errors
  emit(string.format(
    "PB_RESULT requests=%d duration_s=%.6f non2xx=%d p50_ms=%.3f p99_ms=%.3f socket_errors=%d",
    summary.requests, summary.duration / 1e6, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write))
end
