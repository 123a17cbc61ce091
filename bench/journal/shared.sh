#!/bin/bash
# bench/journal/shared.sh: what writing the journal to the shared
# PostgreSQL database costs (issue 27, docs/scaling.md), against the
# journal in the host's own files, and what ebb explain costs reading it.
#
# One ebb serve on a PostgreSQL directory, in alternating rounds with
# directory.shared_state false (the journal in files under server.data_dir,
# one write(2) per record) and true (the journal written to the database in
# batches, and the host's heartbeat). ebb serve runs in a control group of
# its own, PostgreSQL in another (bench/cgroup): the figures are their CPU
# time per message, not the machine's wall clock, so other load on a shared
# machine changes them little. Each round measures, end to end
# (smtp-source → Maildir new/):
#   - steady: STEADY messages at a realistic rate, SESSIONS_STEADY sessions
#     each sending one message a second (smtp-source -w 1): a batch seldom
#     holds more than one message's records;
#   - burst: BURST messages as fast as SESSIONS_BURST sessions send them
#     (batches fill), and the rate reached;
#   - idle: IDLE seconds without mail (the heartbeat's cost).
# Then ebb explain of one message, EXPLAINS times, over the journal the
# rounds left (files: one round's; the database: every round's), and again
# over a journal SCALE times bigger; and the bytes written per message
# (journal files; PostgreSQL's WAL). ROUNDS=0 measures explain only.
# Prints medians and the load. Starts its own PostgreSQL 15 (fsync on, as
# a real server) on a free loopback port. Run as root:
#   sudo bench/journal/shared.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
. bench/lib.sh
STEADY=${STEADY:-150} SESSIONS_STEADY=${SESSIONS_STEADY:-5}
BURST=${BURST:-1000} SESSIONS_BURST=${SESSIONS_BURST:-10}
SIZE=${SIZE:-1024} IDLE=${IDLE:-10} ROUNDS=${ROUNDS:-3} EXPLAINS=${EXPLAINS:-20} SCALE=${SCALE:-20}
U=ebbbench
PGBIN=/usr/lib/postgresql/15/bin
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v smtp-source >/dev/null || { echo "smtp-source missing: apt-get install postfix" >&2; exit 1; }
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL 15 missing: apt-get install postgresql" >&2; exit 1; }
bench_user $U
T=$(mktemp -d /var/tmp/ebb-bench-jshared.XXXXXX)
chmod 755 "$T"
PID=
GE=jebb$$ GP=jpg$$
cleanup() {
	[ -n "$PID" ] && kill $PID 2>/dev/null
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
	if [ -x "$T/bin/cg" ]; then "$T/bin/cg" rm $GE 2>/dev/null || true; "$T/bin/cg" rm $GP 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/bin" "$T/pg"
go build -o "$T/bin/ebb" ./cmd/ebb
go build -o "$T/bin/cg" ./bench/cgroup/cg
CG="$T/bin/cg"
CGVER=$("$CG" version) || { echo "$0: no usable cgroup" >&2; exit 1; }
"$CG" create $GE
"$CG" create $GP
chown postgres:postgres "$T/pg"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo bench > "$T/pg/pw"; chown postgres "$T/pg/pw"
runuser -u postgres -- "$PGBIN/initdb" -D "$T/pg/data" -U postgres --pwfile "$T/pg/pw" --auth scram-sha-256 -E UTF8 --locale C >/dev/null
"$CG" exec $GP -- runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/pg/data" -l "$T/pg/log" -w \
	-o "-p $PGPORT -k $T/pg -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
psql() { PGPASSWORD=bench "$PGBIN/psql" -X -q -t -A -h 127.0.0.1 -p "$PGPORT" -U postgres "$@"; }
psql -d postgres -c 'CREATE DATABASE ebbbench' >/dev/null
DSN="postgres://postgres:bench@127.0.0.1:$PGPORT/ebbbench?sslmode=disable"
PORT=$((20000 + RANDOM % 20000))
d="$T/host"
mkdir -p "$d"

conf() { # conf true|false
	{ ebb_conf_head "$d" "$U"; ebb_conf_smtp "$PORT"; cat <<EOC; } > "$d/ebb.toml"
[auth]
check = false
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

new="$d/mail/example.test/bench/Maildir/new"
cpu() { local c; read -r c _ < <("$CG" idle -window 500ms -threshold 5ms "$1"); echo "$c"; }
wal() { psql -d ebbbench -c 'SELECT pg_current_wal_lsn()'; }
walbytes() { psql -d ebbbench -c "SELECT pg_wal_lsn_diff('$2', '$1')::bigint"; }
jbytes() { du -sb "$d/data/journal" 2>/dev/null | cut -f1 || echo 0; }
send() { # send MSGS SESSIONS WAIT: until all are in new/; prints the seconds taken
	local have t0 t1 w=()
	have=$(find "$new" -maxdepth 1 -type f 2>/dev/null | wc -l)
	[ "$3" != 0 ] && w=(-w "$3")
	t0=$(date +%s.%N)
	smtp-source -s "$2" -m "$1" -l "$SIZE" "${w[@]}" -f sender@example.org -t bench@example.test "127.0.0.1:$PORT" >/dev/null 2>&1
	while [ "$(find "$new" -maxdepth 1 -type f 2>/dev/null | wc -l)" -lt $((have + $1)) ]; do sleep 0.02; done
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}
# measure KIND MSGS SESSIONS WAIT: µs of ebb and of PostgreSQL per message,
# WAL and journal-file bytes per message, msgs/s.
measure() {
	local e0 p0 w0 j0 secs e1 p1 w1 j1
	e0=$(cpu $GE); p0=$(cpu $GP); w0=$(wal); j0=$(jbytes)
	secs=$(send "$2" "$3" "$4")
	e1=$(cpu $GE); p1=$(cpu $GP); w1=$(wal); j1=$(jbytes)
	awk -v n="$2" -v e=$((e1 - e0)) -v p=$((p1 - p0)) -v w="$(walbytes "$w0" "$w1")" -v j=$((j1 - j0)) -v s="$secs" \
		'BEGIN { printf "%.0f %.0f %.0f %.0f %.1f\n", e / n / 1000, p / n / 1000, w / n, j / n, n / s }'
}
run() { # run true|false [SUFFIX]: one round's figures into $T/$1$SUFFIX.*
	conf "$1"
	local o="$T/$1${2:-}"
	rm -rf "$d/mail/example.test" "$d/data/journal"
	"$CG" exec $GE -- "$T/bin/ebb" serve -c "$d/ebb.toml" >>"$d/serve.log" 2>&1 & PID=$!
	wait_port "$PORT" || exit 1
	smtp-source -m 1 -l "$SIZE" -f sender@example.org -t bench@example.test "127.0.0.1:$PORT" >/dev/null 2>&1 # warm: first lookups, connections
	while [ "$(find "$new" -maxdepth 1 -type f 2>/dev/null | wc -l)" -lt 1 ]; do sleep 0.02; done
	measure steady "$STEADY" "$SESSIONS_STEADY" 1 >>"$o.steady"
	measure burst "$BURST" "$SESSIONS_BURST" 0 >>"$o.burst"
	local e0 p0 e1 p1
	e0=$(cpu $GE); p0=$(cpu $GP)
	sleep "$IDLE"
	e1=$(cpu $GE); p1=$(cpu $GP)
	awk -v e=$((e1 - e0)) -v p=$((p1 - p0)) -v s="$IDLE" 'BEGIN { printf "%.2f %.2f\n", e / s / 1e6, p / s / 1e6 }' >>"$o.idle"
	kill $PID; wait $PID 2>/dev/null || true; PID=
	echo "round $r, shared_state = $1: steady $(tail -1 "$o.steady"), burst $(tail -1 "$o.burst"), idle $(tail -1 "$o.idle"), load $(cut -d' ' -f1 /proc/loadavg)"
}
median() { # median COLUMN < file
	awk -v c="$1" '{ print $c }' | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo "(columns: µs of ebb serve per message, µs of PostgreSQL per message, WAL bytes per message, journal file bytes per message, msgs/s; idle: ms of CPU per second)"
for r in $(seq "$ROUNDS"); do
	for s in false true; do run $s; done
done

# ebb explain of one message (the last one's queue id), EXPLAINS times.
explain() { # explain true|false -> median ms
	conf "$1"
	# With shared_state, explain reads the host's own files too (what the
	# database could not take: none here): the files rounds' are moved
	# aside, so that the database alone is measured.
	[ "$1" = true ] && mv "$d/data/journal" "$d/data/journal.files"
	local id
	id=$(runuser -u $U -- "$T/bin/ebb" explain -c "$d/ebb.toml" --json bench@example.test | grep -o '"id": *"[A-Z0-9]*"' | tail -1 | grep -o '[A-Z0-9]\{6,\}')
	[ -n "$id" ] || { echo "$0: no queue id in ebb explain --json bench@example.test" >&2; exit 1; }
	for _ in $(seq "$EXPLAINS"); do
		local a b
		a=$(date +%s%N)
		runuser -u $U -- "$T/bin/ebb" explain -c "$d/ebb.toml" "$id" >/dev/null
		b=$(date +%s%N)
		echo $(((b - a) / 1000000))
	done | median 1
	[ "$1" = true ] && mv "$d/data/journal.files" "$d/data/journal"
	return 0
}
# One more round of each, outside the figures: the database holds every
# round's records, the files the last one's (shared_state = true writes
# none).
r=last
run true .extra >/dev/null
run false .extra >/dev/null
ef=$(explain false); es=$(explain true)
recs=$(psql -d ebbbench -c 'SELECT count(*) FROM journal')
tbytes=$(psql -d ebbbench -c "SELECT pg_total_relation_size('journal')")
fbytes=$(jbytes)
# The same question over a journal SCALE times bigger: copies of the
# records under other queue ids, in the files as earlier days' files (read
# whole for every question), in the database as rows (read by index).
jd="$d/data/journal"
day=$(ls "$jd" | head -1)
for k in $(seq 2 "$SCALE"); do
	sed "s/\"id\":\"/\"id\":\"C$k/" "$jd/$day" >"$jd/$(date -u -d "-$k days" +%F).jsonl"
done
chown -R $U:$U "$jd"
psql -d ebbbench -c "INSERT INTO journal (t, host, queue_id, ref, err_ref, dsn_id, next_id, msgid, addrs, rec)
	SELECT t, host, 'C' || k || queue_id, ref, err_ref, dsn_id, next_id, msgid, addrs, rec FROM journal, generate_series(2, $SCALE) k; ANALYZE journal" >/dev/null
efs=$(explain false); ess=$(explain true)
srecs=$(psql -d ebbbench -c 'SELECT count(*) FROM journal')
stbytes=$(psql -d ebbbench -c "SELECT pg_total_relation_size('journal')")
sfbytes=$(jbytes)

echo
echo "== journal in files vs in the shared PostgreSQL, $SIZE B messages, median of $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, cgroup $CGVER"
for k in steady burst; do
	[ "$ROUNDS" -gt 0 ] || break
	case $k in
	steady) echo "-- steady: $STEADY messages, $SESSIONS_STEADY sessions each sending one a second" ;;
	burst) echo "-- burst: $BURST messages, $SESSIONS_BURST sessions as fast as they go" ;;
	esac
	printf '%-28s %12s %12s %12s %12s %9s\n' shared_state "ebb µs/msg" "pg µs/msg" "WAL B/msg" "file B/msg" "msgs/s"
	for s in false true; do
		label="false (journal in files)"
		[ $s = true ] && label="true (journal in database)"
		printf '%-28s %12s %12s %12s %12s %9s\n' "$label" "$(median 1 <"$T/$s.$k")" "$(median 2 <"$T/$s.$k")" "$(median 3 <"$T/$s.$k")" "$(median 4 <"$T/$s.$k")" "$(median 5 <"$T/$s.$k")"
	done
done
[ "$ROUNDS" -gt 0 ] && echo "-- idle $IDLE s: ms of CPU per second, ebb / PostgreSQL: false $(median 1 <"$T/false.idle") / $(median 2 <"$T/false.idle"), true $(median 1 <"$T/true.idle") / $(median 2 <"$T/true.idle")"
echo "-- ebb explain ID (the whole command, as the mail user), median of $EXPLAINS:"
echo "   files    ${ef} ms over $((fbytes / 1024)) KiB (one round's journal); ${efs} ms over $((sfbytes / 1024)) KiB ($SCALE times)"
echo "   database ${es} ms over $recs records ($((tbytes / 1024)) KiB with indexes); ${ess} ms over $srecs records ($((stbytes / 1024)) KiB)"
