#!/usr/bin/env bash
# Books and reports benchmark (issue 5): a store built the way bench/settle_db.sh
# builds one (PERSONS persons and CLAIMS claim records of plan B: roll import,
# the 惠民保 enrolees as an employer group, the year settled and stored), then
# `huibao books post` (every premium and settlement into the books) and, RUNS
# times, `huibao report all` (every report as JSON, CSV and XLSX, and every
# chart), each with its wall time and peak RSS. SQLite (unless
# HUIBAO_BENCH_SQLITE=0), and PostgreSQL with HUIBAO_BENCH_PG=1: the
# PostgreSQL store is the SQLite one copied table by table (sqlite3 and psql),
# since building it through `enrol import` takes hours at this size (its id
# allocations update the same id_sequences rows a million times in one
# transaction, and each update walks the row's growing version chain).
# HUIBAO_BENCH_KEEP=DIR keeps the generated data and the SQLite store in DIR
# (and reuses them when they are there).
#   bench/reports.sh [BUILD_DIR] [PERSONS] [CLAIMS] [RUNS]
set -euo pipefail
build=${1:-build}
persons=${2:-1000000}
claims=${3:-1000000}
runs=${4:-3}
plan=plans/shandong-2024-huiminbao.toml
huibao="$(cd "$(dirname "$build/src/cli/huibao")" && pwd)/huibao"
source "$(dirname "$0")/pg_server.sh"
if [ -n "${HUIBAO_BENCH_KEEP:-}" ]; then
  dir=$HUIBAO_BENCH_KEEP
  mkdir -p "$dir"
  trap 'stop_pg; rm -rf "$dir/pg" "$dir/reports"' EXIT
else
  dir=$(mktemp -d /tmp/huibao-reports.XXXXXX)
  trap 'stop_pg; rm -rf "$dir"' EXIT
fi

timed() {  # timed LABEL CMD...: the command's last lines, wall time and peak RSS
  local label=$1
  shift
  echo "== $label"
  /usr/bin/time -f "  wall %e s, user %U s, sys %S s, peak RSS %M KiB" "$@" 2>&1 |
    sed -E 's/ +[^ ]+\.\{json,csv,xlsx\}.*$//; s/^([a-z])/  \1/'
}

# fill URL: the store of a settled year.
fill() {
  local url=$1
  "$huibao" roll import --db "$url" --persons "$dir/persons.csv" --as-of 2024-01-01 \
    --actor bench >/dev/null
  "$huibao" enrol import --db "$url" --plan "$plan" --file "$dir/group.csv" \
    --employer BENCH --date 2024-01-01 --actor bench >/dev/null
  "$huibao" settle --db "$url" --plan "$plan" --claims "$dir/claims.jsonl" \
    --out "$dir/results.jsonl" --no-explain --quiet
}

# bench LABEL URL
bench() {
  local label=$1 url=$2
  timed "$label: huibao books post" "$huibao" books post --db "$url" --actor bench
  for i in $(seq "$runs"); do
    rm -rf "$dir/reports"
    timed "$label: huibao report all (run $i of $runs)" \
      "$huibao" report all --db "$url" --dir "$dir/reports"
  done
  du -sh "$dir/reports" | awk '{print "  reports written: " $1}'
}

if [ ! -s "$dir/claims.jsonl" ]; then
  "$huibao" gen --plan "$plan" --persons "$persons" --claims "$claims" --seed 42 --dir "$dir"
  { echo psn_no; tail -n +2 "$dir/enrollments.csv" | cut -d, -f1 | sort -u; } >"$dir/group.csv"
fi
# copy_to_pg URL: the SQLite store's roll, plans, enrolments, premiums and
# settlements (what the books and reports read; not its books).
copy_to_pg() {
  local url=$1 t
  "$huibao" db init --db "$url" >/dev/null
  for t in id_sequences persons person_categories plans plan_versions products enrollments \
    enrollment_payers premiums settlements settlement_layers; do
    sqlite3 -csv -cmd '.nullvalue \\N' "$dir/store.db" "SELECT * FROM $t" |
      psql -q "$url" -c "\\copy $t FROM STDIN WITH (FORMAT csv, NULL '\\N')"
  done
  psql -q "$url" -c "ANALYZE"
}

if [ ! -s "$dir/store.db" ]; then
  echo "building the SQLite store ($persons persons, $claims claim records)"
  fill "sqlite:$dir/store.db"
fi
if [ "${HUIBAO_BENCH_SQLITE:-1}" = 1 ]; then
  bench sqlite "sqlite:$dir/store.db"
  ls -l "$dir/store.db" | awk '{printf "  database file %.0f MiB\n", $5 / 1048576}'
fi
if [ "${HUIBAO_BENCH_PG:-0}" = 1 ] && start_pg "$dir/pg"; then
  echo "copying the store into PostgreSQL"
  copy_to_pg "$pg_url"
  bench postgresql "$pg_url"
fi
