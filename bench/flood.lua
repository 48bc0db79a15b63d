-- POST a fixed body (env BODY, content type env CTYPE) and count answers by
-- status: 200, 429 and the rest. Prints one line that flood.sh parses.
wrk.method = "POST"
wrk.body = os.getenv("BODY") or ""
wrk.headers["Content-Type"] = os.getenv("CTYPE") or "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, limited, other = 0, 0, 0
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 429 then
    limited = limited + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local o, l, x = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    l = l + t:get("limited")
    x = x + t:get("other")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT ok_per_s=%.1f limited_per_s=%.1f other=%d max_us=%d p99_us=%d rps=%.1f timeouts=%d errors=%d\n",
    o / secs, l / secs, x, latency.max, latency:percentile(99), summary.requests / secs, summary.errors.timeout,
    summary.errors.connect + summary.errors.read + summary.errors.write))
end
