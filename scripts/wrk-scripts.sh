#!/usr/bin/env bash
# The wrk scripts of the HTTP benchmarks (scripts/bench, scripts/bench-scale), written into a
# directory: `source scripts/wrk-scripts.sh; write_wrk_scripts "$WORK"` (the scripts find
# report.lua through $WORK, so export it).
write_wrk_scripts() {
  local WORK=$1
# Every script prints one machine-readable line: RESULT <req/s> <p50 ms> <p99 ms> <errors>.
cat > "$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.3f %.3f %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status + e.connect + e.read + e.write + e.timeout))
end
LUA
# GET /healthz through a request() function, as the verify scripts do, so the client's own
# cost is alike on both sides of the ratio.
cat > "$WORK/healthz.lua" <<'LUA'
dofile(os.getenv("WORK") .. "/report.lua")
local req
init = function(args) req = wrk.format("GET", "/healthz") end
request = function() return req end
LUA
# POST /v1/verify cycling through the keys in $KEYS (one a line).
cat > "$WORK/verify.lua" <<'LUA'
dofile(os.getenv("WORK") .. "/report.lua")
local reqs, i = {}, 0
init = function(args)
  local headers = {
    ["Authorization"] = "Bearer " .. os.getenv("ROOT_KEY"),
    ["Content-Type"] = "application/json",
  }
  for key in io.lines(os.getenv("KEYS")) do
    reqs[#reqs + 1] = wrk.format("POST", "/v1/verify", headers,
      '{"key":"' .. key .. '","permission":"invoices:read"}')
  end
  i = math.random(#reqs)
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
LUA
# POST /v1/keys with a unique name per request.
cat > "$WORK/create.lua" <<'LUA'
dofile(os.getenv("WORK") .. "/report.lua")
local n, threads = 0, 0
setup = function(thread) threads = threads + 1; thread:set("tid", threads) end
local headers
init = function(args)
  headers = {
    ["Authorization"] = "Bearer " .. os.getenv("ROOT_KEY"),
    ["Content-Type"] = "application/json",
  }
end
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/keys", headers, string.format(
    '{"name":"Load Test Invoice Integration %s-%d-%d","permissions":["invoices:read"]}',
    os.getenv("RUN_ID"), tid, n))
end
LUA
}
