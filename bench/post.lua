-- POST a fixed body (env BODY) with an optional content type (env CTYPE) and
-- bearer token (env TOKEN); print a one-line summary that run.sh parses.
wrk.method = "POST"
wrk.body = os.getenv("BODY") or ""
wrk.headers["Content-Type"] = os.getenv("CTYPE") or "application/json"
local tok = os.getenv("TOKEN")
if tok and tok ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. tok
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("RESULT rps=%.1f p50_us=%d p99_us=%d requests=%d non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    summary.requests, non2xx, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
