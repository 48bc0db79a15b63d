-- keyward's own token endpoint: POST /api/v1/token with {"account","api_key"}
-- (env ACCOUNT, KEY), the native counterpart of Conjur's authenticate. Also
-- used against bench/ceiling, which ignores the path. Prints a RESULT line
-- that bench/conjur.sh parses.
local account = os.getenv("ACCOUNT") or "myorg"
wrk.method = "POST"
wrk.path = "/api/v1/token"
wrk.body = string.format('{"account":"%s","api_key":"%s"}', account, os.getenv("KEY") or "")
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d requests=%d non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
