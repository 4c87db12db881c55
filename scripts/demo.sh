#!/usr/bin/env bash
# The main job on demo data: install, build, generate a year for each
# reference plan and settle it file to file, printing the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build huibao
mkdir -p demo
for plan in shandong-2020-fupin shandong-2024-huiminbao; do
  echo
  echo "=== $plan: 20,000 persons, 100,000 claim records ==="
  build/src/cli/huibao gen --plan "plans/$plan.toml" --persons 20000 --claims 100000 --seed 2024 \
    --dir "demo/$plan"
  enrol=()
  [ -s "demo/$plan/enrollments.csv" ] && enrol=(--enrollments "demo/$plan/enrollments.csv")
  build/src/cli/huibao settle --plan "plans/$plan.toml" --persons "demo/$plan/persons.csv" "${enrol[@]}" \
    --claims "demo/$plan/claims.jsonl" --out "demo/$plan/results.jsonl"
  echo "first result: $(head -c 400 "demo/$plan/results.jsonl")..."
done
