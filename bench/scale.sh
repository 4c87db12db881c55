#!/usr/bin/env bash
# Scale run: generate a year for a plan, then time `huibao settle` file to file
# with explanations off and on, reporting records/s and peak memory (VmHWM).
#   bench/scale.sh [BUILD_DIR] [PERSONS] [CLAIMS] [PLAN]
set -euo pipefail
build=${1:-build}
persons=${2:-200000}
claims=${3:-1000000}
plan=${4:-plans/shandong-2024-huiminbao.toml}
dir=$(mktemp -d /tmp/huibao-scale.XXXXXX)
trap 'rm -rf "$dir"' EXIT
huibao="$build/src/cli/huibao"
"$huibao" gen --plan "$plan" --persons "$persons" --claims "$claims" --seed 42 --dir "$dir"
ls -l "$dir"
for mode in --no-explain ""; do
  echo "== huibao settle $mode"
  # /usr/bin/time reports the wall clock and the peak resident set of the whole run.
  /usr/bin/time -f "wall %e s, peak RSS %M KiB" \
    "$huibao" settle --plan "$plan" --persons "$dir/persons.csv" --enrollments "$dir/enrollments.csv" \
      --claims "$dir/claims.jsonl" --out "$dir/results.jsonl" $mode 2>&1 | grep -v '^settle:'
  ls -l "$dir/results.jsonl"
done
