-- wrk script for the oversell scenario of Benchmarks/run: every connection (wrk -c 1000) sends one order from a file
-- of requests (a customer's token, a tab, the JSON body; one a line), all of them at the same moment. The
-- connections are opened first and wait for that moment (the third argument, CLOCK_MONOTONIC in milliseconds), so
-- what is timed is the orders, not the TCP handshakes. Prints orders/s from that moment to the last answer, and the
-- answers by status.
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
  start_at = tonumber(args[3])
  requests, index, answered, created, refused, other, last_ms = {}, 0, 0, 0, 0, 0, 0
  local line_number = 0
  for line in io.lines(file) do
    if line_number % count == id - 1 then
      local tab = string.find(line, "\t", 1, true)
      table.insert(requests, wrk.format("POST", "/api/orders", {["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. string.sub(line, 1, tab - 1)}, string.sub(line, tab + 1)))
    end
    line_number = line_number + 1
  end
end

function delay()
  -- A connection whose order is answered waits out the round instead of asking for anything more.
  if index >= #requests then return 60000 end
  return math.max(0, start_at - now_ms())
end

function request()
  -- As in webhooks.lua: wrk calls request() once to check the script and sends nothing for it.
  if not checked then
    checked = true
    return wrk.format("GET", "/healthz")
  end
  index = index + 1
  return requests[index] or wrk.format("GET", "/healthz")
end

function response(status, headers, body)
  if body == '{"status":"ok"}' then return end  -- a /healthz
  if status == 201 then created = created + 1 elseif status == 409 then refused = refused + 1 else other = other + 1 end
  answered = answered + 1
  if answered >= #requests then
    last_ms = now_ms()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests_summary)
  local orders, statuses, last = 0, {0, 0, 0}, 0
  for _, thread in ipairs(threads) do
    orders = orders + thread:get("answered")
    statuses[1] = statuses[1] + thread:get("created")
    statuses[2] = statuses[2] + thread:get("refused")
    statuses[3] = statuses[3] + thread:get("other")
    last = math.max(last, thread:get("last_ms"))
  end
  local seconds = (last - threads[1]:get("start_at")) / 1000
  io.write(string.format("orders: %d in %.3f s = %.0f orders/s; 201 %d, 409 %d, other %d; latency p50 %.2f ms, p99 %.2f ms\n",
    orders, seconds, orders / seconds, statuses[1], statuses[2], statuses[3],
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
