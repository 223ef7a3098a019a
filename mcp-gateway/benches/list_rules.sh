#!/usr/bin/env bash
# Load test: tools/call list_alert_rules (limit 50) against 1,000 stored rules,
# with wrk and the team's shared MCP script, on the one-command SQLite setup.
# Usage: mcp-gateway/benches/list_rules.sh [connections] [seconds]
# GATEWAY_BIN=path runs that binary instead of building this checkout's, to
# measure two builds side by side in one sitting.
# MEASURE=instructions runs the gateway under valgrind's callgrind instead and
# reports the instructions a call costs: a figure that, unlike calls/s, does
# not move with whatever else the machine is doing (4 connections, no p99).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
lua=${MCP_LUA:-$root/../shared/bench/mcp_call.lua}
conns=${1:-32}
secs=${2:-10}
port=${PORT:-18190}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

bin=${GATEWAY_BIN:-}
if [[ -z $bin ]]; then
  cargo build --release -p mcp-gateway --manifest-path "$root/Cargo.toml" >&2
  bin=$root/target/release/mcp-gateway
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
under=()
if [[ ${MEASURE:-} == instructions ]]; then
  command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
  under=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out")
fi
MONITORS_LISTEN=127.0.0.1:$port MONITORS_LOG=warn MONITORS_EMBEDDED_WORKER=${EMBEDDED_WORKER:-true} "${under[@]}" "$bin" >stdout 2>stderr &
for _ in $(seq 1 600); do grep -q 'mcpk_' stdout 2>/dev/null && break; sleep 0.1; done
token=$(grep -o 'mcpk_[A-Za-z0-9_-]*' stdout | head -1)

for i in $(seq 0 999); do
  printf '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"create_alert_rule","arguments":{"name":"rule %d","metric":{"measurement":"crypto","field":"price","tags":{"symbol":"S%d"}},"condition":{"op":">","threshold":%d},"interval":"10s"}}}\n' "$i" "$i" $((i % 50)) "$i"
done | while read -r body; do
  curl -sf -o /dev/null "http://127.0.0.1:$port/mcp" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H 'MCP-Protocol-Version: 2025-06-18' -d "$body"
done

# Warm up, then measure.
MCP_TOKEN=$token wrk -t1 -c"$conns" -d2s -s "$lua" "http://127.0.0.1:$port/mcp" >/dev/null
gateway=$(jobs -p | head -1)
if [[ ${MEASURE:-} == instructions ]]; then
  callgrind_control -i on "$gateway" >/dev/null 2>&1
  served=$(MCP_TOKEN=$token wrk -t1 -c4 -d"${secs}s" -s "$lua" "http://127.0.0.1:$port/mcp" | awk '/requests in/ {print $1}')
  callgrind_control -i off "$gateway" >/dev/null 2>&1
  callgrind_control -d "$gateway" >/dev/null 2>&1
  for _ in $(seq 1 100); do compgen -G "$work/callgrind.out.*" >/dev/null && break; sleep 0.1; done
  # The dump holds every thread's count from the moment counting began.
  awk -v calls="$served" '/^totals:/ {total += $2} END {printf "calls=%d instructions_per_call=%.0f\n", calls, total / calls}' "$work"/callgrind.out.*
  exit 0
fi
switches() { perf stat -e context-switches -p "$gateway" -x, -o "$work/switches" -- sleep "$secs"; }
if command -v perf >/dev/null && perf stat -e context-switches -x, -o /dev/null -- true 2>/dev/null; then
  switches & counting=$!
fi
result=$(MCP_TOKEN=$token wrk -t1 -c"$conns" -d"${secs}s" -s "$lua" "http://127.0.0.1:$port/mcp" | grep RESULT)
echo "$result"
if [[ -n ${counting:-} ]] && wait "$counting"; then
  # Context switches per call: the gateway's cost that a busy machine does
  # not blur as much as calls/s.
  rps=$(sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$result")
  awk -F, -v calls=$((rps * secs)) '/context-switches/ {printf "switches_per_call=%.1f\n", $1 / calls}' "$work/switches"
fi
echo "rss_kb=$(ps -o rss= -p "$gateway")"
