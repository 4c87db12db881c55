# Sourced by the benchmark scripts: start_pg DIR starts a throwaway
# PostgreSQL 15 server (durable: fsync and synchronous_commit on) in DIR on a
# random loopback port and sets pg_url and pg_pid; stop_pg stops it. Returns
# 1 when the server binaries (/usr/lib/postgresql/15/bin or $HUIBAO_PG_BIN)
# are missing. As root the server runs as the postgres user.
pg_pid=""
pg_url=""
start_pg() {
  local dir=$1 bin=${HUIBAO_PG_BIN:-/usr/lib/postgresql/15/bin}
  if [ ! -x "$bin/initdb" ]; then
    echo "postgresql: no server binaries in $bin, skipped"
    return 1
  fi
  mkdir -p "$dir"
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir" "$(dirname "$dir")"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust >/dev/null
  local port=$((20000 + RANDOM % 20000))
  "${as[@]}" "$bin/postgres" -D "$dir/data" -k "$dir" -p "$port" -h 127.0.0.1 \
    -c fsync=on -c synchronous_commit=on -c max_wal_size=4GB >"$dir/log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 50); do
    "$bin/pg_isready" -h 127.0.0.1 -p "$port" -q && break
    sleep 0.2
  done
  pg_url="postgresql://postgres@127.0.0.1:$port/postgres"
}
stop_pg() {
  if [ -n "$pg_pid" ]; then kill "$pg_pid" 2>/dev/null || true; wait "$pg_pid" 2>/dev/null || true; fi
  pg_pid=""
}
