#!/bin/bash
# bench/journal: what the journal (ebb explain's record of every event)
# costs ebb serve. The same daemon, journal.enabled true and false in
# alternating rounds, each fed MSGS messages of SIZE bytes by smtp-source
# with SESSIONS sessions on loopback, end to end (smtp-source → Maildir
# new/). Prints the median msgs/s of each, the cost in percent, and the
# journal's bytes per message on disk. Target (issue 15): ≤ 5 % and
# ≤ 1 KiB per message. Run as root:  sudo bench/journal/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
. bench/lib.sh
MSGS=${MSGS:-2000} SIZE=${SIZE:-1024} SESSIONS=${SESSIONS:-10} ROUNDS=${ROUNDS:-5}
U=ebbbench
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v smtp-source >/dev/null || { echo "smtp-source missing: apt-get install postfix" >&2; exit 1; }
bench_user $U
T=$(mktemp -d /var/tmp/ebb-bench-journal.XXXXXX)
chmod 755 "$T"
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/bin" && go build -o "$T/bin/ebb" ./cmd/ebb
PORT=$((20000 + RANDOM % 20000))

run() { # run on|off -> "msgs/s journal_bytes"
	local j=$1 d="$T/$1"
	rm -rf "$d"; mkdir -p "$d/data" "$d/mail" "$d/spool"
	{ ebb_conf_head "$d" "$U"; ebb_conf_smtp "$PORT"; cat <<EOC; } > "$d/ebb.toml"
[auth]
check = false
[journal]
enabled = $([ "$j" = on ] && echo true || echo false)
[dns]
resolver = "127.0.0.1:1"
EOC
	chown -R $U:$U "$d"
	runuser -u $U -- "$T/bin/ebb" domain add -c "$d/ebb.toml" example.test >/dev/null
	runuser -u $U -- "$T/bin/ebb" user add -c "$d/ebb.toml" --no-password bench@example.test >/dev/null
	"$T/bin/ebb" serve -c "$d/ebb.toml" >"$d/serve.log" 2>&1 & PID=$!
	wait_port "$PORT" || exit 1
	local new="$d/mail/example.test/bench/Maildir/new" t0 t1
	t0=$(date +%s.%N)
	smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" -f sender@example.org -t bench@example.test "127.0.0.1:$PORT" >/dev/null 2>&1
	while [ "$(find "$new" -maxdepth 1 -type f 2>/dev/null | wc -l)" -lt "$MSGS" ]; do sleep 0.02; done
	t1=$(date +%s.%N)
	kill $PID; wait $PID 2>/dev/null || true; PID=
	local jb=0
	[ -d "$d/data/journal" ] && jb=$(du -sb "$d/data/journal" | cut -f1)
	awk -v n="$MSGS" -v a="$t0" -v b="$t1" -v j="$jb" 'BEGIN { printf "%.1f %d\n", n/(b-a), j }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

: > "$T/on.runs"; : > "$T/off.runs"
for r in $(seq "$ROUNDS"); do
	for j in off on; do
		read -r rate bytes < <(run $j)
		echo "$rate $bytes" >> "$T/$j.runs"
		echo "round $r: journal $j: $rate msg/s${bytes:+, journal $bytes bytes}, load $(cut -d' ' -f1 /proc/loadavg)"
	done
done
on=$(awk '{print $1}' "$T/on.runs" | median); off=$(awk '{print $1}' "$T/off.runs" | median)
per=$(awk '{print $2}' "$T/on.runs" | median)
echo
echo "== journal cost, $MSGS messages of $SIZE B, $SESSIONS sessions, median of $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
printf '%-14s %10s\n' journal msgs/s
printf '%-14s %10s\n' off "$off" on "$on"
awk -v on="$on" -v off="$off" -v b="$per" -v n="$MSGS" 'BEGIN {
	c = 100 * (off - on) / off; pm = b / n
	printf "cost: %.1f %% of msgs/s (target <= 5 %%): %s\n", c, (c <= 5 ? "met" : "MISSED")
	printf "journal on disk: %.0f bytes per message (target <= 1024): %s\n", pm, (pm <= 1024 ? "met" : "MISSED") }'
