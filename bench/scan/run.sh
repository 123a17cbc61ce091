#!/bin/bash
# bench/scan: the same messages scanned by spamd and clamd two ways, in one run:
#   ebb:  SMTP into ebb serve, which asks clamd (zINSTREAM) and spamd
#         (SPAMC/1.5) itself, in parallel, before the 250, and delivers;
#   pipe: the seed's way, per message `spamc` then `clamdscan --stream`,
#         then the result written to a file (no fsync: in the pipe's favour).
# Both at the same concurrency, against the same spamd (2 children) and
# clamd. Prints messages/s of each, their ratio, the scanners' own time per
# message (from ebb's ebb_scan_seconds) and ebb's overhead on top: ebb with
# scanning minus ebb without (one session), minus the slower scanner.
#
# The machine is shared and noisy: the two ways run in alternation, ROUNDS
# times each over the same messages, and the medians are compared.
#
# Usage: bench/scan/run.sh [-n MESSAGES] [-p CONCURRENCY] [-r ROUNDS] [-o OUTDIR]. Run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
. bench/lib.sh
N=60
P=4
ROUNDS=3
OUT=bench/scan/results
while getopts "n:p:r:o:" o; do
	case $o in
	n) N=$OPTARG ;; p) P=$OPTARG ;; r) ROUNDS=$OPTARG ;; o) OUT=$OPTARG ;;
	*) echo "usage: $0 [-n MESSAGES] [-p CONCURRENCY] [-r ROUNDS] [-o OUTDIR]" >&2; exit 64 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 1; }
for c in spamd spamc clamd clamdscan; do command -v $c >/dev/null || { echo "$0: $c missing (test/packages.txt)" >&2; exit 1; }; done

T=$(mktemp -d /var/tmp/ebb-bench-scan.XXXXXX)
chmod 755 "$T"
mkdir -p "$OUT"
BASE=$((20000 + RANDOM % 10000))
SA_PORT=$BASE CL_PORT=$((BASE + 1)) EBB_PORT=$((BASE + 2)) MET_PORT=$((BASE + 3))
cleanup() {
	for f in "$T/ebb.pid" "$T/sa/spamd.pid" "$T/clam/clamd.pid"; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	sleep 1
	rm -rf "$T"
}
trap cleanup EXIT

echo "== building ebb and the driver"
mkdir -p "$T/bin" && chmod 755 "$T/bin"
go build -o "$T/bin/ebb" ./cmd/ebb
go build -o "$T/bin/driver" ./bench/scan

echo "== starting spamd and clamd"
mkdir -p "$T/sa" "$T/clam/db"
spamd --listen=127.0.0.1:$SA_PORT --allowed-ips=127.0.0.1 -u debian-spamd -x -L \
	--max-children=2 --min-children=2 --min-spare=1 --max-spare=2 --cf='use_bayes 0' --cf='bayes_auto_learn 0' \
	-r "$T/sa/spamd.pid" -s stderr >"$T/sa/spamd.log" 2>&1 &
# The EICAR signature, built from two halves (no file of the repository holds it).
printf '%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > "$T/clam/eicar"
echo "Eicar-Test-Signature:0:*:$(od -An -tx1 -v "$T/clam/eicar" | tr -d ' \n')" > "$T/clam/db/test.ndb"
rm "$T/clam/eicar"
cat > "$T/clam/clamd.conf" <<EOC
Foreground yes
DatabaseDirectory $T/clam/db
TCPSocket $CL_PORT
TCPAddr 127.0.0.1
PidFile $T/clam/clamd.pid
LogFile $T/clam/clamd.log
StreamMaxLength 50M
MaxThreads 8
SelfCheck 0
EOC
printf 'TCPSocket %s\nTCPAddr 127.0.0.1\n' $CL_PORT > "$T/clam/clamdscan.conf"
clamd -c "$T/clam/clamd.conf" >"$T/clam/out" 2>&1 &
wait_port $CL_PORT || exit 1
for _ in $(seq 200); do spamc -d 127.0.0.1 -p $SA_PORT -K >/dev/null 2>&1 && break; sleep 0.2; done

"$T/bin/driver" -mode gen -dir "$T/msgs" -n "$N"

VM=ebbbench
bench_user "$VM"
start_ebb() { # start_ebb SCAN(yes|no)
	rm -rf "$T/ebb"; mkdir -p "$T/ebb/data" "$T/ebb/mail" "$T/ebb/spool"
	local scan=""
	[ "$1" = yes ] && scan="[scan.clamd]
address = \"127.0.0.1:$CL_PORT\"
config = \"$T/clam/clamd.conf\"
[scan.spamd]
address = \"127.0.0.1:$SA_PORT\""
	{ ebb_conf_head "$T/ebb" "$VM"; cat <<EOC; } > "$T/ebb/ebb.toml"
[smtp]
listen = ["127.0.0.1:$EBB_PORT"]
[metrics]
listen = "127.0.0.1:$MET_PORT"
[log]
level = "warn"
$scan
EOC
	chown -R "$VM:$VM" "$T/ebb"
	runuser -u "$VM" -- "$T/bin/ebb" domain add -c "$T/ebb/ebb.toml" example.test >/dev/null
	runuser -u "$VM" -- "$T/bin/ebb" user add -c "$T/ebb/ebb.toml" --no-password bench@example.test >/dev/null
	"$T/bin/ebb" serve -c "$T/ebb/ebb.toml" >"$T/ebb/serve.log" 2>&1 &
	echo $! > "$T/ebb.pid"
	wait_port $EBB_PORT || exit 1
}
stop_ebb() { stop_pid "$T/ebb.pid"; }
rate() { sed -n 's/.*= \([0-9.]*\) msgs\/s.*/\1/p' <<<"$1"; }
metric() { curl -s "http://127.0.0.1:$MET_PORT/metrics" | awk -v k="$1" '$1==k {print $2}'; }

# Warm-up: spamd's first checks compile its rules.
for f in $(ls "$T/msgs" | head -5); do spamc -d 127.0.0.1 -p $SA_PORT -c < "$T/msgs/$f" >/dev/null || true; done

start_ebb yes
PIPES="" EBBS=""
for r in $(seq "$ROUNDS"); do
	rm -rf "$T/pipe-out"; mkdir -p "$T/pipe-out"
	one_pipe() { R=$("$T/bin/driver" -mode pipe -dir "$T/msgs" -p "$P" -spamd 127.0.0.1:$SA_PORT -clamdconf "$T/clam/clamdscan.conf" -out "$T/pipe-out"); echo "round $r: $R"; PIPES="$PIPES $(rate "$R")"; }
	one_ebb() { R=$("$T/bin/driver" -mode smtp -dir "$T/msgs" -p "$P" -addr 127.0.0.1:$EBB_PORT); echo "round $r: ebb $R"; EBBS="$EBBS $(rate "$R")"; }
	if [ $((r % 2)) = 1 ]; then one_pipe; one_ebb; else one_ebb; one_pipe; fi
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
PIPE_MED=$(median "$PIPES") EBB_MED=$(median "$EBBS")
SPAMD_SUM=$(metric 'ebb_scan_seconds_sum{scanner="spamd"}'); SPAMD_N=$(metric 'ebb_scan_seconds_count{scanner="spamd"}')
CLAMD_SUM=$(metric 'ebb_scan_seconds_sum{scanner="clamd"}'); CLAMD_N=$(metric 'ebb_scan_seconds_count{scanner="clamd"}')
M0_SUM=$(metric 'ebb_scan_message_seconds_sum'); M0_N=$(metric 'ebb_scan_message_seconds_count')
EBB1=$("$T/bin/driver" -mode smtp -dir "$T/msgs" -p 1 -addr 127.0.0.1:$EBB_PORT)
S1_SUM=$(metric 'ebb_scan_seconds_sum{scanner="spamd"}'); S1_N=$(metric 'ebb_scan_seconds_count{scanner="spamd"}')
C1_SUM=$(metric 'ebb_scan_seconds_sum{scanner="clamd"}'); C1_N=$(metric 'ebb_scan_seconds_count{scanner="clamd"}')
M_SUM=$(metric 'ebb_scan_message_seconds_sum'); M_N=$(metric 'ebb_scan_message_seconds_count')
stop_ebb
echo "== ebb without scanners, 1 session"
start_ebb no
PLAIN1=$("$T/bin/driver" -mode smtp -dir "$T/msgs" -p 1 -addr 127.0.0.1:$EBB_PORT)
stop_ebb

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
awk -v pipe="$PIPE_MED" -v ebb="$EBB_MED" -v pipes="$PIPES" -v ebbs="$EBBS" -v rounds="$ROUNDS" -v e1="$(rate "$EBB1")" -v p1="$(rate "$PLAIN1")" \
	-v ss="$SPAMD_SUM" -v sn="$SPAMD_N" -v cs="$CLAMD_SUM" -v cn="$CLAMD_N" \
	-v s1s="$S1_SUM" -v s1n="$S1_N" -v c1s="$C1_SUM" -v c1n="$C1_N" -v ms="$M_SUM" -v mn="$M_N" -v m0s="$M0_SUM" -v m0n="$M0_N" -v n="$N" -v p="$P" -v load="$LOAD" 'BEGIN {
	printf "\nmessages %d (~4 KiB), concurrency %d, load average %s\n", n, p, load
	printf "pipe (spamc | clamdscan):   %7.2f msgs/s (median of %d rounds:%s)\n", pipe, rounds, pipes
	printf "ebb (clamd + spamd):        %7.2f msgs/s (median of %d rounds:%s) = %.2fx the pipe\n", ebb, rounds, ebbs, ebb / pipe
	sp = (s1s - ss) / (s1n - sn) * 1000; cl = (c1s - cs) / (c1n - cn) * 1000
	printf "scanners, one at a time:    spamd %.1f ms, clamd %.1f ms per message (ebb_scan_seconds)\n", sp, cl
	eng = (ms - m0s) / (mn - m0n) * 1000; slow = (sp > cl ? sp : cl); over = eng - slow
	printf "ebb, one session:           %.1f ms per message end to end with scanning, %.1f ms without\n", 1000 / e1, 1000 / p1
	printf "scan engine per message:    %.2f ms (ebb_scan_message_seconds); the slower scanner %.2f ms\n", eng, slow
	printf "ebb overhead on the scan:   %.2f ms = %.1f%% of the scanners'"'"' time\n", over, 100 * over / slow
}' | tee "$OUT/$(date -u +%Y%m%dT%H%M%SZ).txt"
