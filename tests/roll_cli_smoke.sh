#!/usr/bin/env bash
# The store commands of the huibao binary on a temporary SQLite database:
# db init|migrate, roll import (dry run, bad rows, exit codes), roll export,
# settlements export and person show (masked by default).
#   tests/roll_cli_smoke.sh HUIBAO_BINARY SOURCE_DIR
set -euo pipefail
huibao=$1
src=$2
dir=$(mktemp -d /tmp/huibao-cli.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
unset HUIBAO_DB
export HUIBAO_ACTOR=smoke

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# expect CODE CMD...: runs CMD, which must exit with CODE; its output is in $out.
expect() {
  local want=$1
  shift
  set +e
  out=$("$@" 2>&1)
  local got=$?
  set -e
  [ "$got" -eq "$want" ] || fail "exit $got (want $want): $*"$'\n'"$out"
}

"$huibao" gen --plan "$src/plans/shandong-2024-huiminbao.toml" --persons 200 --claims 0 \
  --dir g >/dev/null

expect 0 "$huibao" db init
grep -q "schema version" <<<"$out" || fail "db init: $out"
[ -f data/huibao.db ] || fail "db init did not create data/huibao.db"
expect 0 "$huibao" db migrate
grep -q "nothing to apply" <<<"$out" || fail "db migrate: $out"

expect 0 "$huibao" roll import --persons g/persons.csv --dry-run --as-of 2024-01-01
grep -q "200 added" <<<"$out" || fail "dry run: $out"
expect 0 "$huibao" roll import --persons g/persons.csv --as-of 2024-01-01
grep -q "200 added" <<<"$out" || fail "the dry run wrote something: $out"
grep -q "committed" <<<"$out" || fail "import: $out"

# Bad rows: exit 2, each listed with file:line, nothing written.
{
  head -2 g/persons.csv
  echo "370102198001011230,x,1,,370102,390,,0"
  sed -n 3p g/persons.csv | sed 's/,390,/,391,/; s/,310,/,391,/'
} >bad.csv
expect 2 "$huibao" roll import --persons bad.csv --as-of 2024-02-01
grep -q "bad.csv:3: psn_no" <<<"$out" || fail "bad row 3 not listed: $out"
grep -q "bad.csv:4: insutype" <<<"$out" || fail "bad row 4 not listed: $out"
grep -q "nothing written" <<<"$out" || fail "bad import: $out"
expect 2 "$huibao" roll import --persons g/persons.csv --as-of 2024-13-01
expect 3 "$huibao" roll import --persons missing.csv
expect 4 "$huibao" roll import --db sqlite:/nonexistent-dir/x/y.db --persons g/persons.csv
expect 0 "$huibao" roll import --help
grep -q "Exit codes" <<<"$out" || fail "--help does not document the exit codes"

# Export: the CSV re-imports unchanged; the XLSX is a zip.
expect 0 "$huibao" roll export --out roll.csv
[ "$(head -1 roll.csv)" = "$(head -1 g/persons.csv)" ] || fail "export header"
[ "$(wc -l <roll.csv)" -eq 201 ] || fail "export rows: $(wc -l <roll.csv)"
expect 0 "$huibao" roll import --persons roll.csv --as-of 2024-03-01
grep -q "200 unchanged" <<<"$out" || fail "re-import of the export: $out"
expect 0 "$huibao" roll export --out roll.xlsx
[ "$(head -c 2 roll.xlsx)" = PK ] || fail "roll.xlsx is not a zip"
expect 0 "$huibao" settlements export --out s.csv --year 2024
[ "$(head -1 s.csv | cut -d, -f1-3)" = "setl_id,kind,ref_setl_id" ] || fail "settlements header"
expect 2 "$huibao" roll export --out roll.txt

# Person show: masked by default, in full when asked; unknown persons exit 2.
psn=$(sed -n 2p g/persons.csv | cut -d, -f1)
expect 0 "$huibao" person show "$psn"
grep -q "$psn" <<<"$out" && fail "person show printed the id unmasked: $out"
grep -q "${psn:0:4}\*\*\*\*\*\*\*\*\*\*${psn:14:4}" <<<"$out" || fail "masked id missing: $out"
expect 0 "$huibao" person show "$psn" --json --unmasked
grep -q "\"psn_no\": \"$psn\"" <<<"$out" || fail "unmasked json: $out"
expect 2 "$huibao" person show 370102198001011237
echo "roll CLI smoke test passed"
