-- wrk script for Benchmarks/run: each thread (wrk -t T -c C, any number of connections a thread) sends its own slice
-- of a file of pre-signed deliveries (Stripe-Signature, a tab, the body; one a line), and stops once every delivery
-- it sent has been answered. Prints latency and non-200s. With a third argument, a rate (requests/s over all threads),
-- each thread sends on a fixed schedule (its k-th request no earlier than start + k / its share of the rate), so the
-- latency is measured at that rate rather than at whatever rate the server can take.
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } till_timespec;
  int clock_gettime(int clock, till_timespec *ts);
]]
local clock = ffi.new("till_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local file, count = args[1], tonumber(args[2])
  if args[3] then interval = count * 1000 / tonumber(args[3]) end
  requests, index, failures, answered = {}, 0, 0, 0
  local line_number = 0
  for line in io.lines(file) do
    if line_number % count == id - 1 then
      local tab = string.find(line, "\t", 1, true)
      local signature, body = string.sub(line, 1, tab - 1), string.sub(line, tab + 1)
      table.insert(requests, wrk.format("POST", "/api/webhooks/stripe",
        {["Content-Type"] = "application/json", ["Stripe-Signature"] = signature}, body))
    end
    line_number = line_number + 1
  end
end

function delay()
  -- Once the thread's deliveries are all sent, its connections wait for the last answers instead of asking for more.
  if index >= #requests then return 60000 end
  if not interval then return 0 end
  local now = now_ms()
  slot = (slot or now) + interval
  return math.max(0, slot - interval - now)
end

function request()
  -- wrk calls request() once in the first thread to check the script, and sends nothing for it: the first call of
  -- every thread gives a /healthz, so no delivery is used up unsent.
  if not checked then
    checked = true
    return wrk.format("GET", "/healthz")
  end
  index = index + 1
  if index > #requests then
    return wrk.format("GET", "/healthz")
  end
  return requests[index]
end

function response(status, headers, body)
  -- The thread stops once its last delivery is answered; the /healthz of the script check is not counted.
  if string.find(body, '"status"', 1, true) then return end
  if status ~= 200 then failures = failures + 1 end
  answered = answered + 1
  if answered >= #requests then wrk.thread:stop() end
end

function done(summary, latency, requests_summary)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("failures") end
  io.write(string.format("wrk: %d requests in %.2f s = %.0f/s; non-200 %d; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), failed,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
