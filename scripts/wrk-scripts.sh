#!/usr/bin/env bash
# What the HTTP benchmarks (scripts/bench, scripts/bench-scale, scripts/bench-ab,
# scripts/bench-latency) share: `source scripts/wrk-scripts.sh`, then
# - `write_wrk_scripts "$WORK"` writes the wrk scripts into a directory (they find report.lua
#   through $WORK, so export it);
# - `wrk_result`, `cpu_ticks`, `TICK_US`, `machine_ticks`, `idle_percent` and `median` measure
#   and summarise runs;
# - `ensure_port_free` refuses a port something already listens on (a server left from an
#   interrupted run would answer for the new one), `wait_for_server` waits for a started
#   server to answer, `settle_audit` for its audit
#   trail to take in every verification answered so far;
# - `set_verification_audit` switches the benchmark workspace's recording of verifications.
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

# wrk_result <script> <url> [env...] -> "<req/s> <p50 ms> <p99 ms>": one bounded wrk run of
# $DURATION at $CONNS connections with a script from $WORK.
wrk_result() {
  local script=$1 url=$2
  shift 2
  env "$@" wrk -t2 -c"$CONNS" -d"$DURATION" -s "$WORK/$script" "$url" 2>&1 | awk '/^RESULT/ {print $2, $3, $4}'
}
# A process's CPU time so far, in clock ticks (user + system); TICK_US µs each.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
# The whole machine's idle (idle + iowait) and total CPU ticks so far: "<idle> <total>".
machine_ticks() { awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
# idle_percent "<idle> <total>" "<idle> <total>": the share of the machine's CPU time left idle
# between two `machine_ticks` readings. A durable verification waits for the disk; when every
# connection is waiting at once, the cores idle, which `CPU per verification` does not show.
idle_percent() {
  local i0 t0 i1 t1
  read -r i0 t0 <<<"$1"
  read -r i1 t1 <<<"$2"
  awk "BEGIN {printf \"%.1f\", 100 * ($i1 - $i0) / ($t1 - $t0)}"
}
# The median of the numbers on stdin (space- or line-separated; of an even count, the lower
# middle one).
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# ensure_port_free <port>: fails, naming the port, when something listens on it on loopback.
ensure_port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 on 127.0.0.1 is in use (a server left from an earlier run?): stop it or set PORT" >&2
    return 1
  fi
}

# wait_for_server <url>: succeeds once the server at <url> answers /healthz (up to 60 s).
wait_for_server() {
  for _ in $(seq 600); do
    curl -fs "$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
# settle_audit <url>: returns once the server at <url> (with $ROOT_KEY) has taken into its
# audit trail every verification answered so far (the audit query waits for the journal), so
# no run pays for the one before it.
settle_audit() { curl -fsS -o /dev/null "$1/v1/audit?limit=1" -H "Authorization: Bearer $ROOT_KEY"; }
# set_verification_audit all|failures|none: the workspace setting, on the server at $URL with
# $ROOT_KEY.
set_verification_audit() {
  curl -fsS -o /dev/null -X PATCH "$URL/v1/workspace" -H "Authorization: Bearer $ROOT_KEY" \
    -H 'Content-Type: application/json' -d "{\"verification_audit\":\"$1\"}"
}
