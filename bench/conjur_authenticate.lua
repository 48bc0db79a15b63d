-- Conjur's authenticate: POST /authn/{ACCOUNT}/{LOGIN}/authenticate with the
-- raw API key (env KEY) as the body, as conjur-api-go sends it. LOGIN is
-- already percent-encoded (host%2Fbench%2Fapp). Prints a RESULT line that
-- bench/conjur.sh parses.
local account = os.getenv("ACCOUNT") or "myorg"
local login = os.getenv("LOGIN") or "admin"
wrk.method = "POST"
wrk.path = "/authn/" .. account .. "/" .. login .. "/authenticate"
wrk.body = os.getenv("KEY") or ""
wrk.headers["Content-Type"] = "text/plain"

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d requests=%d non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
