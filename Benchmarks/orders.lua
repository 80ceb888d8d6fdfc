-- wrk script for the oversell scenario of Benchmarks/run: every connection (wrk -c 1000) sends one order from a file
-- of requests (a customer's token, a tab, the JSON body; one a line), all of them at the same moment. The
-- connections are opened first and wait for that moment (the third argument, CLOCK_MONOTONIC in milliseconds), so
-- what is timed is the orders, not the TCP handshakes. Prints orders/s from that moment to the last answer, and the
-- answers by status.
dofile("Benchmarks/wrk-common.lua")

function init(args)
  local file, count = args[1], tonumber(args[2])
  start_at = tonumber(args[3])
  index, answered, created, refused, other, last_ms = 0, 0, 0, 0, 0, 0
  requests = load_slice(file, count, function(token, body)
    return wrk.format("POST", "/api/orders",
      {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
  end)
end

function delay()
  -- A connection whose order is answered waits out the round instead of asking for anything more.
  if index >= #requests then return 60000 end
  return math.max(0, start_at - now_ms())
end

request = next_request

function response(status, headers, body)
  if is_healthz(body) then return end
  if status == 201 then created = created + 1 elseif status == 409 then refused = refused + 1 else other = other + 1 end
  answered = answered + 1
  if answered >= #requests then
    last_ms = now_ms()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests_summary)
  local orders, last = sum_over_threads("answered"), 0
  for _, thread in ipairs(threads) do last = math.max(last, thread:get("last_ms")) end
  local seconds = (last - threads[1]:get("start_at")) / 1000
  local created, refused = sum_over_threads("created"), sum_over_threads("refused")
  -- Accepted orders (201) and refusals (409, sold out: one read each) are counted apart: the refusals are cheap.
  io.write(string.format("orders: %d in %.3f s = %.0f orders/s; accepted (201) %d = %.0f/s, refused (409) %d = %.0f/s, other %d; latency p50 %.2f ms, p99 %.2f ms\n",
    orders, seconds, orders / seconds, created, created / seconds, refused, refused / seconds, sum_over_threads("other"),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
