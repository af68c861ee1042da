-- Loaded before each script of bench/ingest.py: a wall clock comparable with Python's
-- time.monotonic(), and a line writer that flushes, since the bench reads wrk's stdout
-- while it runs.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } pb_timespec;
int clock_gettime(int clock_id, pb_timespec *tp);
]]
local timespec = ffi.new("pb_timespec")
local CLOCK_MONOTONIC = 1  -- Linux; the clock behind Python's time.monotonic()
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end
local function emit(line)
  io.write(line .. "\n")
  io.flush()
end
