-- wrk: the audited write. Each request sets a fresh billingRateCents on one of the 500 companies;
-- each wrk thread takes its own residue class of ids, so threads never wait on each other's row
-- locks and every request really changes the row (one audit event, change and ref each).
-- $AUTH_TOKEN: the admin's session; $WRK_THREADS: the -t given to wrk.
local tok = os.getenv("AUTH_TOKEN")
local threads = tonumber(os.getenv("WRK_THREADS") or "2")
local counter = 0
setup = function(thread) thread:set("me", counter); counter = counter + 1 end
-- Every run starts the sequence somewhere else: a run repeating an earlier one's values would
-- make no-op updates (no audit rows), which cost less.
init = function(args) math.randomseed(os.time() * 7 + me); n = math.random(0, 1000000) end  -- me: from setup
request = function()
  n = n + 1
  local id = 1 + ((n * threads + me) % 500)
  local body = string.format(
    '{"query":"mutation($i: UpdateCompanyInput!) { updateCompany(input: $i) { id billingRateCents version } }","variables":{"i":{"id":"%d","billingRateCents":%d}}}',
    id, 1000 + (n * 7919 + me * 104729) % 1000000)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tok}, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f reqs=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
