-- What webhooks.lua and orders.lua share; they load it with dofile, from the repository's root (Benchmarks/run's
-- working directory).
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } till_timespec;
  int clock_gettime(int clock, till_timespec *ts);
]]
local clock = ffi.new("till_timespec")

-- CLOCK_MONOTONIC in milliseconds (the clock Python's time.monotonic() reads).
function now_ms()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

-- This thread's slice of a file of "first<TAB>second" lines (every count-th line), made into requests by make.
function load_slice(file, count, make)
  local slice, line_number = {}, 0
  for line in io.lines(file) do
    if line_number % count == id - 1 then
      local tab = string.find(line, "\t", 1, true)
      table.insert(slice, make(string.sub(line, 1, tab - 1), string.sub(line, tab + 1)))
    end
    line_number = line_number + 1
  end
  return slice
end

-- The thread's next request, or a /healthz once they are all handed out. wrk calls request() once in the first
-- thread to check the script and sends nothing for it: the first call of every thread gives a /healthz, so no
-- request is used up unsent.
function next_request()
  if not checked then
    checked = true
    return wrk.format("GET", "/healthz")
  end
  index = index + 1
  return requests[index] or wrk.format("GET", "/healthz")
end

-- The answer to one of next_request's /healthz requests, which the scripts do not count.
function is_healthz(body)
  return body == '{"status":"ok"}'
end

function sum_over_threads(name)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get(name) end
  return total
end
