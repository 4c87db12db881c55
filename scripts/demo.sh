#!/usr/bin/env bash
# The main job on demo data: install, build, generate a year for each
# reference plan and settle it file to file, printing the summary; then
# build a demo city in a SQLite database (roll, 惠民保 enrolments, a year of
# claims settled and stored) and print its summary and one person.
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

echo
echo "=== demo city in SQLite: demo/huibao.db (plan shandong-2024-huiminbao) ==="
city=demo/shandong-2024-huiminbao
db=sqlite:demo/huibao.db
rm -f demo/huibao.db demo/huibao.db-wal demo/huibao.db-shm
build/src/cli/huibao db init --db "$db"
build/src/cli/huibao roll import --db "$db" --persons "$city/persons.csv" --as-of 2024-01-01 \
  --actor demo | tail -n 3
# The generated 惠民保 enrolees join on 2024-01-01 as an employer group (the
# hardship subsidy of the plan pays its share first); cover starts the next day.
{ echo psn_no; tail -n +2 "$city/enrollments.csv" | cut -d, -f1 | sort -u; } >"$city/hmb-group.csv"
build/src/cli/huibao enrol import --db "$db" --plan plans/shandong-2024-huiminbao.toml \
  --file "$city/hmb-group.csv" --employer DEMO-EMPLOYER --date 2024-01-01 --actor demo | tail -n 3
build/src/cli/huibao settle --db "$db" --plan plans/shandong-2024-huiminbao.toml \
  --claims "$city/claims.jsonl" --out "$city/results-db.jsonl"
someone=$(head -n 2 "$city/hmb-group.csv" | tail -n 1)
build/src/cli/huibao person show --db "$db" "$someone" --actor demo

echo
echo "=== the HTTP API on the demo city: huibao serve ==="
# A hospital key (shown once), the server on a free port, one settlement by
# curl as a hospital's discharge desk would send it, then a clean stop.
key=$(build/src/cli/huibao apikey create --db "$db" --org H370102001 --role hospital \
  --label "demo discharge desk" --actor demo 2>/dev/null)
port=$((30000 + RANDOM % 20000))
build/src/cli/huibao serve --db "$db" --plan plans/shandong-2024-huiminbao.toml --port "$port" \
  --no-access-log >demo/serve.log 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
echo "server  http://127.0.0.1:$port   (OpenAPI: /openapi.json, metrics: /metrics)"
echo "key     $key   (hospital H370102001)"
claim=$(printf '{"setl_id":"DEMO-API-1","psn_no":"%s","med_type":"21","hosp_lv":2,"fixmedins_code":"H370102001","begndate":"2024-06-03","enddate":"2024-06-10","medfee_sumamt":"12000.00","fulamt_ownpay_amt":"1500.00","overlmt_selfpay":"300.00","preselfpay_amt":"700.00","inscp_scp_amt":"9500.00"}' "$someone")
echo "curl -s -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' \\"
echo "     -d '$claim' http://127.0.0.1:$port/api/v1/settlements"
curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$claim" \
  "http://127.0.0.1:$port/api/v1/settlements"
echo
kill -TERM "$server"
wait "$server" || true
trap - EXIT
echo "server stopped; run it yourself with:"
echo "  build/src/cli/huibao serve --db $db --plan plans/shandong-2024-huiminbao.toml --port 8080"
