-- wrk: POST the JSON body in $BODY_FILE, with "Authorization: Bearer $AUTH_TOKEN" when set.
-- No `response` callback on purpose: one costs wrk about half its throughput on 2 cores.
-- Non-2xx answers are counted as errors (GraphQL errors are 200: bench.py checks bodies first).
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local tok = os.getenv("AUTH_TOKEN")
if tok and #tok > 0 then wrk.headers["Authorization"] = "Bearer " .. tok end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f reqs=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
