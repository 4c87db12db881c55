#!/usr/bin/env bash
# The main job on demo data: install, build, generate a year for each
# reference plan and settle it file to file, printing the summary; then
# build a demo city in a SQLite database (roll, 惠民保 enrolments, a year of
# claims settled and stored) and print its summary and one person; serve it
# over the HTTP API and settle one claim by curl; then add plan A's 2020 year
# to the same database, post both years to the fund books, settle the years'
# ends and write every report and chart (demo/reports/).
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

echo
echo "=== books and reports: plan A's 2020 year joins demo/huibao.db ==="
# Its own roll (seed 2021: no resident id in common with the 2024 city), the poverty
# population enrolled automatically (provincial and city funds pay the premiums), and a
# light year of 1,400 claims, so that its loss ratios land near the 80 % floor. (The
# generator's claims are far heavier than real ones: the 2024 city's 100,000 claims for
# 20,000 persons put its 惠民保 loss ratios in the thousands of percent.) Its setl_ids are
# renamed F... so they do not meet the 2024 city's S....
fupin=demo/fupin-2020-db
huibao=build/src/cli/huibao
plan_a=plans/shandong-2020-fupin.toml
plan_b=plans/shandong-2024-huiminbao.toml
$huibao gen --plan "$plan_a" --persons 20000 --claims 1400 --seed 2021 --dir "$fupin"
sed -i 's/"setl_id":"S/"setl_id":"F/' "$fupin/claims.jsonl"
$huibao roll import --db "$db" --persons "$fupin/persons.csv" --as-of 2020-01-01 --actor demo |
  tail -n 2
$huibao enrol auto --db "$db" --plan "$plan_a" --actor demo
$huibao settle --db "$db" --plan "$plan_a" --claims "$fupin/claims.jsonl" \
  --out "$fupin/results-db.jsonl" | grep -E '^(records|settled|stored)'

echo
echo "=== the fund books: every premium and settlement posted (again: nothing new) ==="
$huibao books post --db "$db" --actor demo
$huibao books post --db "$db" --actor demo | head -n 2
# Explicit entries, each idempotent by its key: the 2019 surplus subsidising Jinan's 2020
# medical premium, premium re-allocated from the accident product (the 2020 plan allows
# it), the 惠民保 insurer's operating cost and the platform's fee in Qingdao, and the
# payments of every claim payable to the hospitals (accident benefits to the insured).
$huibao books carry-over --db "$db" --product fupin_medical --region 370100 --from-year 2019 \
  --amount 2000.00 --key DEMO-CARRY-2019-370100 --date 2020-01-15 --memo "2019 surplus" --actor demo
$huibao books transfer --db "$db" --plan "$plan_a" --from fupin_accident --to fupin_medical \
  --region 370100 --amount 300.00 --key DEMO-TRANSFER-2020-370100 --date 2020-09-30 --actor demo
$huibao books cost --db "$db" --kind operating --product hmb --region 370200 --year 2024 \
  --amount 3500.00 --key DEMO-OP-2024-370200 --date 2024-12-31 --actor demo
$huibao books cost --db "$db" --kind platform --product hmb --region 370200 --year 2024 \
  --amount 800.00 --key DEMO-PF-2024-370200 --date 2024-12-31 --payee DEMO-PLATFORM --actor demo
$huibao books pay --db "$db" --run 2020-12 --date 2020-12-31 --year 2020 --actor demo
$huibao books pay --db "$db" --run 2024-12 --date 2024-12-31 --year 2024 --actor demo
echo
echo "=== the years' ends by each plan's [fund] rules ==="
$huibao books year-end --db "$db" --plan "$plan_a" --actor demo
$huibao books year-end --db "$db" --plan "$plan_b" --actor demo | head -n 4
$huibao books check --db "$db"

echo
echo "=== every report (JSON, CSV, XLSX) and chart (SVG), both years: demo/reports/ ==="
$huibao report all --db "$db" --year 2020 --dir demo/reports/2020
$huibao report all --db "$db" --year 2024 --dir demo/reports/2024
echo
echo "loss ratio 2020 by city (product, city, earned premium, claims, loss ratio, band):"
cut -d, -f2,4,16,17,18,20 demo/reports/2020/loss-ratio.csv | grep fupin_medical
echo
echo "enrolment 2024 against the 30 % target (city, basic-insured, enrolled, rate):"
cut -d, -f4,5,7,8 demo/reports/2024/enrolment.csv | tail -n 4
echo
echo "reimbursement ratio of policy-range cost, 2020, the province (bucket, claims, share):"
grep ',370000,' demo/reports/2020/settlements.ratio_histogram.csv | cut -d, -f4-6
echo
echo "reconciliation (check, rows, not ok, status):"
tail -n +2 demo/reports/2024/reconcile.summary.csv
echo
echo "charts: $(ls demo/reports/*/*.svg | tr '\n' ' ')"
