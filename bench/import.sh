#!/usr/bin/env bash
# Roll import benchmark: generate PERSONS persons with `huibao gen`, then time
# `huibao roll import` into a fresh SQLite file (the first import), again (a
# re-import with nothing changed: the whole diff, no writes) and a dry run,
# printing persons/s and the peak resident set (/usr/bin/time).
#   bench/import.sh [BUILD_DIR] [PERSONS] [PLAN]
# With HUIBAO_BENCH_PG=1 and the PostgreSQL 15 server binaries installed
# (/usr/lib/postgresql/15/bin, or $HUIBAO_PG_BIN), the first import is also
# timed into a throwaway server (durable: fsync and synchronous_commit on).
set -euo pipefail
build=${1:-build}
persons=${2:-1000000}
plan=${3:-plans/shandong-2024-huiminbao.toml}
huibao="$(cd "$(dirname "$build/src/cli/huibao")" && pwd)/huibao"
dir=$(mktemp -d /tmp/huibao-import.XXXXXX)
source "$(dirname "$0")/pg_server.sh"
cleanup() {
  stop_pg
  rm -rf "$dir"
}
trap cleanup EXIT

"$huibao" gen --plan "$plan" --persons "$persons" --claims 0 --seed 42 --dir "$dir" >/dev/null
echo "persons.csv: $persons persons, $(du -h "$dir/persons.csv" | cut -f1)"

# run LABEL URL ARGS...: one timed import; prints persons/s and peak RSS.
run() {
  local label=$1 url=$2
  shift 2
  local out
  out=$(/usr/bin/time -f "TIME %e %M" "$huibao" roll import --db "$url" \
    --persons "$dir/persons.csv" --as-of 2024-01-01 --actor bench "$@" 2>&1) || {
    echo "$out"
    return 1
  }
  local wall rss
  read -r wall rss < <(grep '^TIME' <<<"$out" | awk '{print $2, $3}')
  awk -v l="$label" -v n="$persons" -v w="$wall" -v r="$rss" \
    'BEGIN {printf "%-28s %7.2f s  %9.0f persons/s  peak RSS %6.1f MiB\n", l, w, n / w, r / 1024}'
  grep '^persons' <<<"$out" | sed 's/^/    /'
}

db="sqlite:$dir/roll.db"
run "sqlite first import" "$db"
ls -l "$dir/roll.db" | awk '{printf "    database file %.0f MiB\n", $5 / 1048576}'
run "sqlite re-import, unchanged" "$db"
run "sqlite dry run" "$db" --dry-run

if [ "${HUIBAO_BENCH_PG:-0}" = 1 ] && start_pg "$dir/pg"; then
  run "postgresql first import" "$pg_url"
  run "postgresql re-import" "$pg_url"
fi
