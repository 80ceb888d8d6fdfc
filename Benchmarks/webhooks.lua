-- wrk script for Benchmarks/run: each thread (wrk -t T -c C, any number of connections a thread) sends its own slice
-- of a file of pre-signed deliveries (Stripe-Signature, a tab, the body; one a line), and stops once every delivery
-- it sent has been answered. Prints latency and non-200s. With a third argument, a rate (requests/s over all threads),
-- each thread sends on a fixed schedule (its k-th request no earlier than start + k / its share of the rate), so the
-- latency is measured at that rate rather than at whatever rate the server can take.
dofile("Benchmarks/wrk-common.lua")

function init(args)
  local file, count = args[1], tonumber(args[2])
  if args[3] then interval = count * 1000 / tonumber(args[3]) end
  index, failures, answered = 0, 0, 0
  requests = load_slice(file, count, function(signature, body)
    return wrk.format("POST", "/api/webhooks/stripe",
      {["Content-Type"] = "application/json", ["Stripe-Signature"] = signature}, body)
  end)
end

function delay()
  -- Once the thread's deliveries are all sent, its connections wait for the last answers instead of asking for more.
  if index >= #requests then return 60000 end
  if not interval then return 0 end
  local now = now_ms()
  slot = (slot or now) + interval
  return math.max(0, slot - interval - now)
end

request = next_request

function response(status, headers, body)
  -- The thread stops once its last delivery is answered; the /healthz of the script check is not counted.
  if is_healthz(body) then return end
  if status ~= 200 then failures = failures + 1 end
  answered = answered + 1
  if answered >= #requests then wrk.thread:stop() end
end

function done(summary, latency, requests_summary)
  io.write(string.format("wrk: %d requests in %.2f s = %.0f/s; non-200 %d; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), sum_over_threads("failures"),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
