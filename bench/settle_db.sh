#!/usr/bin/env bash
# Persisted settlement benchmark: generate a year (PERSONS persons, CLAIMS
# claim records) for plan B, then for SQLite (and PostgreSQL with
# HUIBAO_BENCH_PG=1) build a store the way the demo does (roll import, the
# 惠民保 enrolees as an employer group) and time `huibao settle --db`, which
# stores every settlement and year state with durable commits. Prints the
# summary's store lines, the whole command's time and peak RSS.
#   bench/settle_db.sh [BUILD_DIR] [PERSONS] [CLAIMS]
set -euo pipefail
build=${1:-build}
persons=${2:-200000}
claims=${3:-1000000}
plan=plans/shandong-2024-huiminbao.toml
huibao="$(cd "$(dirname "$build/src/cli/huibao")" && pwd)/huibao"
dir=$(mktemp -d /tmp/huibao-settle-db.XXXXXX)
source "$(dirname "$0")/pg_server.sh"
trap 'stop_pg; rm -rf "$dir"' EXIT

"$huibao" gen --plan "$plan" --persons "$persons" --claims "$claims" --seed 42 --dir "$dir"
{ echo psn_no; tail -n +2 "$dir/enrollments.csv" | cut -d, -f1 | sort -u; } >"$dir/group.csv"

# bench LABEL URL: fill the store, then time the settlement into it.
bench() {
  local label=$1 url=$2
  "$huibao" roll import --db "$url" --persons "$dir/persons.csv" --as-of 2024-01-01 \
    --actor bench >/dev/null
  "$huibao" enrol import --db "$url" --plan "$plan" --file "$dir/group.csv" \
    --employer BENCH --date 2024-01-01 --actor bench >/dev/null
  # The generator's and the imports' files are still being written back to the
  # disk (about 400 MB); that is not the settlement's work, so wait for it.
  sync
  echo "== $label: huibao settle --db (explanations off)"
  /usr/bin/time -f "  wall %e s, user %U s, sys %S s, peak RSS %M KiB" \
    "$huibao" settle --db "$url" --plan "$plan" --claims "$dir/claims.jsonl" \
    --out "$dir/results.jsonl" --no-explain 2>&1 | grep -E '^(records|settled|stored|claims file)|wall' |
    sed 's/^\([a-z]\)/  \1/'
}

bench sqlite "sqlite:$dir/store.db"
ls -l "$dir/store.db" | awk '{printf "  database file %.0f MiB\n", $5 / 1048576}'
if [ "${HUIBAO_BENCH_PG:-0}" = 1 ] && start_pg "$dir/pg"; then
  bench postgresql "$pg_url"
fi
