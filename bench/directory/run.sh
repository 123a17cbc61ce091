#!/bin/bash
# Resolve 100k addresses on SQLite and on PostgreSQL side by side (1 and 32
# lookers, cache off and on) and print lookups/s, p50, p99 and the ratio to
# SQLite. Starts its own PostgreSQL 15 on a free loopback port in a temp
# directory (as the postgres user, like the tests), and stops it at the end.
# Run as root from anywhere: bench/directory/run.sh [-n 100000]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
PGBIN=/usr/lib/postgresql/15/bin
[ -x "$PGBIN/initdb" ] || { echo "bench: PostgreSQL 15 missing: apt-get install postgresql" >&2; exit 1; }

T=$(mktemp -d /var/tmp/ebb-bench-pg.XXXXXX)
chmod 755 "$T"; chown postgres:postgres "$T"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
echo bench > "$T/pw"; chown postgres "$T/pw"
runuser -u postgres -- "$PGBIN/initdb" -D "$T/data" -U postgres --pwfile "$T/pw" --auth scram-sha-256 -E UTF8 --locale C --no-sync >/dev/null
# Durability settings stay at PostgreSQL's defaults except fsync, which only
# matters for writes (the benchmark measures reads).
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/data" -l "$T/log" -w \
	-o "-p $PORT -k $T -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
PGPASSWORD=bench "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c 'CREATE DATABASE ebbbench' >/dev/null

echo "== ebb directory lookups: SQLite vs PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
go run ./bench/directory -pg "postgres://postgres:bench@127.0.0.1:$PORT/ebbbench?sslmode=disable" "$@" 2> >(grep -v 'directory schema migrated' >&2)
