#!/usr/bin/env bash
# Enrolment import benchmark (issue 3): generate PERSONS persons for plan B,
# then into a fresh SQLite file (and, with HUIBAO_BENCH_PG=1, a throwaway
# PostgreSQL 15 server, durable: fsync and synchronous_commit on) time
# `huibao roll import` of persons.csv, then `huibao enrol import` of the
# generated 惠民保 enrolees as an employer group (as bench/settle_db.sh fills
# its store): a dry run, then the import. Prints each command's wall, user
# and sys time, peak RSS (/usr/bin/time) and rows/s.
#   bench/enrol_import.sh [BUILD_DIR] [PERSONS]
set -euo pipefail
build=${1:-build}
persons=${2:-1000000}
plan=plans/shandong-2024-huiminbao.toml
huibao="$(cd "$(dirname "$build/src/cli/huibao")" && pwd)/huibao"
dir=$(mktemp -d /tmp/huibao-enrol-import.XXXXXX)
source "$(dirname "$0")/pg_server.sh"
trap 'stop_pg; rm -rf "$dir"' EXIT

"$huibao" gen --plan "$plan" --persons "$persons" --claims 0 --seed 42 --dir "$dir" >/dev/null
{ echo psn_no; tail -n +2 "$dir/enrollments.csv" | cut -d, -f1 | sort -u; } >"$dir/group.csv"
enrolees=$(($(wc -l <"$dir/group.csv") - 1))
echo "persons.csv: $persons persons; group.csv: $enrolees enrolees"

# run LABEL ROWS COMMAND...: one timed command; prints its times, rows/s and
# the last line of its report.
run() {
  local label=$1 rows=$2
  shift 2
  local out
  out=$(/usr/bin/time -f "TIME %e %U %S %M" "$@" 2>&1) || {
    echo "$out" | tail -5
    return 1
  }
  local wall user sys rss
  read -r wall user sys rss < <(grep '^TIME' <<<"$out" | awk '{print $2, $3, $4, $5}')
  awk -v l="$label" -v n="$rows" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" \
    'BEGIN {printf "%-34s wall %6.2f s  user %6.2f s  sys %5.2f s  peak RSS %6.1f MiB  %8.0f rows/s\n",
            l, w, u, s, r / 1024, n / w}'
  grep -v '^TIME' <<<"$out" | tail -1 | sed 's/^/    /'
}

bench() {
  local engine=$1 url=$2
  run "$engine roll import" "$persons" "$huibao" roll import --db "$url" \
    --persons "$dir/persons.csv" --as-of 2024-01-01 --actor bench
  local enrol=("$huibao" enrol import --db "$url" --plan "$plan" --file "$dir/group.csv"
    --employer BENCH --date 2024-01-01 --actor bench)
  run "$engine enrol import --dry-run" "$enrolees" "${enrol[@]}" --dry-run
  run "$engine enrol import" "$enrolees" "${enrol[@]}"
}

bench sqlite "sqlite:$dir/store.db"
if [ "${HUIBAO_BENCH_PG:-0}" = 1 ] && start_pg "$dir/pg"; then
  bench postgresql "$pg_url"
fi
