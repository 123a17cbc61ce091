#!/bin/bash
# bench/journal/shared.sh: what writing the journal to the shared
# PostgreSQL database costs ebb serve (issue 27, docs/scaling.md), and what
# ebb explain costs reading it, against the journal in the host's files.
# One ebb serve on a PostgreSQL directory, in alternating rounds with
# directory.shared_state false (the journal in files under server.data_dir)
# and true (the journal, Sieve state and AUTH counts in the database), each
# fed MSGS messages of SIZE bytes by smtp-source with SESSIONS sessions,
# end to end (smtp-source → Maildir new/). Then ebb explain of one message,
# EXPLAINS times each, over the journal the rounds left (files: every
# message of the round; database: every round's). Prints medians, the cost
# in percent and the load. Starts its own PostgreSQL 15 (fsync on, as a
# real server) on a free loopback port. Run as root: sudo bench/journal/shared.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
MSGS=${MSGS:-2000} SIZE=${SIZE:-1024} SESSIONS=${SESSIONS:-10} ROUNDS=${ROUNDS:-5} EXPLAINS=${EXPLAINS:-20}
U=ebbbench
PGBIN=/usr/lib/postgresql/15/bin
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v smtp-source >/dev/null || { echo "smtp-source missing: apt-get install postfix" >&2; exit 1; }
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL 15 missing: apt-get install postgresql" >&2; exit 1; }
id $U >/dev/null 2>&1 || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin $U
T=$(mktemp -d /var/tmp/ebb-bench-jshared.XXXXXX)
chmod 755 "$T"
PID=
cleanup() {
	[ -n "$PID" ] && kill $PID 2>/dev/null
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/bin" "$T/pg" && go build -o "$T/bin/ebb" ./cmd/ebb
chown postgres:postgres "$T/pg"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo bench > "$T/pg/pw"; chown postgres "$T/pg/pw"
runuser -u postgres -- "$PGBIN/initdb" -D "$T/pg/data" -U postgres --pwfile "$T/pg/pw" --auth scram-sha-256 -E UTF8 --locale C >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/pg/data" -l "$T/pg/log" -w \
	-o "-p $PGPORT -k $T/pg -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
PGPASSWORD=bench "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c 'CREATE DATABASE ebbbench' >/dev/null
DSN="postgres://postgres:bench@127.0.0.1:$PGPORT/ebbbench?sslmode=disable"
PORT=$((20000 + RANDOM % 20000))
d="$T/host"
mkdir -p "$d"

conf() { # conf true|false
	cat > "$d/ebb.toml" <<EOC
[server]
hostname = "bench.example.net"
user = "$U"
data_dir = "$d/data"
[mail]
root = "$d/mail"
[queue]
spool = "$d/spool"
[smtp]
listen = ["127.0.0.1:$PORT"]
max_connections = 500
max_connections_per_ip = 500
[auth]
check = false
[metrics]
listen = ""
[log]
level = "warn"
[directory]
dsn = "$DSN"
shared_state = $1
[dns]
resolver = "127.0.0.1:1"
EOC
}
conf false
mkdir -p "$d/data" "$d/mail" "$d/spool"
chown -R $U:$U "$d"
runuser -u $U -- "$T/bin/ebb" domain add -c "$d/ebb.toml" example.test >/dev/null
runuser -u $U -- "$T/bin/ebb" user add -c "$d/ebb.toml" --no-password bench@example.test >/dev/null

run() { # run true|false -> msgs/s
	conf "$1"
	rm -rf "$d/mail/example.test" "$d/data/journal"
	"$T/bin/ebb" serve -c "$d/ebb.toml" >>"$d/serve.log" 2>&1 & PID=$!
	for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
	local new="$d/mail/example.test/bench/Maildir/new" t0 t1
	t0=$(date +%s.%N)
	smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" -f sender@example.org -t bench@example.test "127.0.0.1:$PORT" >/dev/null 2>&1
	while [ "$(find "$new" -maxdepth 1 -type f 2>/dev/null | wc -l)" -lt "$MSGS" ]; do sleep 0.02; done
	t1=$(date +%s.%N)
	kill $PID; wait $PID 2>/dev/null || true; PID=
	awk -v n="$MSGS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", n/(b-a) }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

: > "$T/false.runs"; : > "$T/true.runs"
for r in $(seq "$ROUNDS"); do
	for s in false true; do
		rate=$(run $s)
		echo "$rate" >> "$T/$s.runs"
		echo "round $r: shared_state = $s: $rate msg/s, load $(cut -d' ' -f1 /proc/loadavg)"
	done
done
files=$(median < "$T/false.runs"); shared=$(median < "$T/true.runs")

# ebb explain of one message (by its Message-ID's queue id), EXPLAINS times.
explain() { # explain true|false -> median ms
	conf "$1"
	local id
	id=$(runuser -u $U -- "$T/bin/ebb" explain -c "$d/ebb.toml" --json bench@example.test | grep -o '"id":"[A-Z0-9]*"' | tail -1 | cut -d'"' -f4)
	for _ in $(seq "$EXPLAINS"); do
		local a b
		a=$(date +%s%N)
		runuser -u $U -- "$T/bin/ebb" explain -c "$d/ebb.toml" "$id" >/dev/null
		b=$(date +%s%N)
		echo $(( (b - a) / 1000000 ))
	done | median
}
# The files hold the last files round; run one more to leave them.
run false >/dev/null
ef=$(explain false); es=$(explain true)
recs=$(PGPASSWORD=bench "$PGBIN/psql" -X -q -t -A -h 127.0.0.1 -p "$PGPORT" -U postgres -d ebbbench -c 'SELECT count(*) FROM journal')
fbytes=$(du -sb "$d/data/journal" | cut -f1)

echo
echo "== journal in files vs in the shared PostgreSQL, $MSGS messages of $SIZE B, $SESSIONS sessions, median of $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
printf '%-26s %10s\n' "shared_state" msgs/s
printf '%-26s %10s\n' "false (journal in files)" "$files" "true (journal in database)" "$shared"
awk -v s="$shared" -v f="$files" 'BEGIN { printf "cost of the shared journal and state: %.1f %% of msgs/s\n", 100 * (f - s) / f }'
echo "ebb explain ID, median of $EXPLAINS: files ${ef} ms ($((fbytes / 1024)) KiB of one round's journal), database ${es} ms ($recs records of $ROUNDS rounds)"
