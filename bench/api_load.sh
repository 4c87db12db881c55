#!/usr/bin/env bash
# Load benchmark of the HTTP API: durable settlements from many concurrent
# connections. Generates a year of plan-B claims (PERSONS persons, CLAIMS
# claims, none invalid, every claim at one hospital), builds a SQLite store as
# the demo does (roll import, 惠民保 enrolees), creates a hospital key, starts
# `huibao serve` and runs the load client BUILD_DIR/bench/api_load (each claim
# sent once) for SECONDS at CONNECTIONS connections; then the same against a
# throwaway durable PostgreSQL 15 (fsync and synchronous_commit on) unless
# HUIBAO_BENCH_PG=0. The client and the server share the machine.
#   bench/api_load.sh [BUILD_DIR] [CONNECTIONS] [SECONDS] [PERSONS] [CLAIMS]
# RATE=R runs an open loop: R claims due per second, latency counted from
# when each was due (how "sustains R/s with p99 under X" is measured); the
# default, RATE=0, is a closed loop (every connection always busy: the
# server's saturation throughput). EXPLAIN=true adds the explanation lines to
# every answer (default false). SERVER_LOGS=DIR keeps the servers' logs there.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
connections=${2:-64}
seconds=${3:-20}
persons=${4:-50000}
claims=${5:-400000}
rate=${RATE:-0}
plan=plans/shandong-2024-huiminbao.toml
huibao="$(cd "$(dirname "$build/src/cli/huibao")" && pwd)/huibao"
client="$(cd "$build/bench" && pwd)/api_load"
[ -x "$client" ] || { echo "no load client at $client (configure with HUIBAO_BENCH=ON)" >&2; exit 2; }
dir=$(mktemp -d /tmp/huibao-api-load.XXXXXX)
source bench/pg_server.sh
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" || true; fi
  server_pid=""
  if [ -n "${SERVER_LOGS:-}" ]; then cp "$dir"/serve-*.log "$SERVER_LOGS"/ 2>/dev/null || true; fi
}
trap 'stop_server; stop_pg; rm -rf "$dir"' EXIT

"$huibao" gen --plan "$plan" --persons "$persons" --claims "$claims" --seed 42 \
  --invalid-per-10k 0 --dir "$dir" >/dev/null
# One hospital for the whole load (a hospital key settles its own claims);
# accident records (service points' work) are left out.
grep -v '"kind":"accident"' "$dir/claims.jsonl" |
  sed -E 's/"fixmedins_code":"[^"]*"/"fixmedins_code":"H370100001"/' >"$dir/load.jsonl"
{ echo psn_no; tail -n +2 "$dir/enrollments.csv" | cut -d, -f1 | sort -u; } >"$dir/group.csv"
echo "load: $(wc -l <"$dir/load.jsonl") claims for $persons persons; $connections connections," \
  "$seconds s, rate ${rate}/s (0: closed loop), explain ${EXPLAIN:-false}"

# run LABEL URL
run() {
  local label=$1 url=$2 port=$((30000 + RANDOM % 20000))
  "$huibao" roll import --db "$url" --persons "$dir/persons.csv" --as-of 2024-01-01 \
    --actor bench >/dev/null
  "$huibao" enrol import --db "$url" --plan "$plan" --file "$dir/group.csv" --employer BENCH \
    --date 2024-01-01 --actor bench >/dev/null
  local key
  key=$("$huibao" apikey create --db "$url" --org H370100001 --role hospital --label bench 2>/dev/null)
  "$huibao" serve --db "$url" --plan "$plan" --port "$port" --threads 160 --no-access-log \
    --rate 1000000 --burst 1000000 >"$dir/serve-$label.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "== $label: api_load --connections $connections --seconds $seconds --rate $rate"
  "$client" --port "$port" --key "$key" --claims "$dir/load.jsonl" --connections "$connections" \
    --seconds "$seconds" --rate "$rate" --explain "${EXPLAIN:-false}"
  curl -s "http://127.0.0.1:$port/metrics" | grep -E '^huibao_settlements_total\{outcome="(settled|replayed)"\}' |
    sed 's/^/  server: /'
  stop_server
}

run sqlite "sqlite:$dir/store.db"
if [ "${HUIBAO_BENCH_PG:-1}" = 1 ] && start_pg "$dir/pg"; then
  run postgresql "$pg_url"
fi
