#!/usr/bin/env bash
# Scale run: generate a year for a plan, then time `huibao settle` file to file
# with explanations off and on, reporting records/s and peak memory (VmHWM).
#   bench/scale.sh [BUILD_DIR] [PERSONS] [CLAIMS] [PLAN] [RUNS]
# Each mode runs RUNS times (default 5); the figures of every run are printed,
# then the median: shared and virtual machines vary from run to run.
set -euo pipefail
build=${1:-build}
persons=${2:-200000}
claims=${3:-1000000}
plan=${4:-plans/shandong-2024-huiminbao.toml}
runs=${5:-5}
dir=$(mktemp -d /tmp/huibao-scale.XXXXXX)
trap 'rm -rf "$dir"' EXIT
huibao="$build/src/cli/huibao"
"$huibao" gen --plan "$plan" --persons "$persons" --claims "$claims" --seed 42 --dir "$dir"
ls -l "$dir"
for mode in --no-explain --explain; do
  echo "== huibao settle $mode ($runs runs)"
  : >"$dir/rates"
  for ((i = 1; i <= runs; i++)); do
    rm -f "$dir/results.jsonl"
    # The summary gives the claims-file time and rate; /usr/bin/time the whole
    # command (roll and plan loading included) and its peak resident set.
    out=$(/usr/bin/time -f "wall %e s, user %U s, sys %S s, peak RSS %M KiB" \
      "$huibao" settle --plan "$plan" --persons "$dir/persons.csv" \
      --enrollments "$dir/enrollments.csv" --claims "$dir/claims.jsonl" \
      --out "$dir/results.jsonl" $([ "$mode" = --no-explain ] && echo --no-explain) 2>&1)
    line=$(grep '^claims file' <<<"$out")
    echo "  run $i: ${line#claims file     }; $(tail -1 <<<"$out")"
    awk '{print $5}' <<<"$line" >>"$dir/rates"
  done
  sort -n "$dir/rates" | awk '{a[NR]=$1} END {printf "  median %s records/s (min %s, max %s)\n", a[int((NR+1)/2)], a[1], a[NR]}'
  ls -l "$dir/results.jsonl"
done
