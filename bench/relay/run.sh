#!/bin/bash
# bench/relay: outbound relaying, ebb against Postfix 3.7, side by side in
# one run. Each system takes MESSAGES messages of 1 KiB for 10 remote
# domains (d0.bench … d9.bench) from Postfix's smtp-source on loopback
# (10 sessions, one per domain) and relays them to Postfix's smtp-sink;
# both queue durably first. The clock runs from the first injected message
# until smtp-sink has counted the last one. ebb finds the sink through MX
# records served by a small test DNS (bench/relay/dnsserver, the tests'
# internal/dnstest); Postfix's smtp client reads only /etc/resolv.conf, so
# it gets the same next hop from transport_maps ([127.0.0.1]:PORT, no DNS
# at all: ebb does strictly more work). Each system runs in a control
# group of its own (bench/cgroup: v1 or v2): its CPU time per relayed
# message (the relay phase, and the whole run) and its peak memory without
# the page cache come from there; smtp-source, smtp-sink and the DNS
# server are outside it. RUNS runs each, alternating; the table shows
# medians and the load average.
#
# Usage: bench/relay/run.sh [-m MESSAGES] [-r RUNS] [-o OUTDIR] [-p]
# (-p: a 4 s CPU profile of ebb during its relay phase, OUTDIR/ebb-relay.pprof)
# Run as root on Debian 12 with postfix installed (test/packages.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
. bench/lib.sh

MSGS=5000
RUNS=3
OUT=bench/relay/out
PROFILE=
while getopts "m:r:o:p" o; do
	case $o in
	m) MSGS=$OPTARG ;; r) RUNS=$OPTARG ;; o) OUT=$OPTARG ;; p) PROFILE=1 ;;
	*) echo "usage: $0 [-m MESSAGES] [-r RUNS] [-o OUTDIR]" >&2; exit 64 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "$0: run as root (Postfix needs it to start)" >&2; exit 1; }
command -v smtp-sink >/dev/null || { echo "$0: smtp-sink missing: apt-get install postfix" >&2; exit 1; }

T=$(mktemp -d /var/tmp/ebb-bench-relay.XXXXXX)
chmod 755 "$T"
mkdir -p "$OUT"
BASE=$((20000 + RANDOM % 10000))
PF_PORT=$BASE EBB_PORT=$((BASE + 1)) SINK_PORT=$((BASE + 2)) DNS_PORT=$((BASE + 3))
SAMPLER= SINK= DNS=
cleanup() {
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
	[ -n "$SINK" ] && kill "$SINK" 2>/dev/null || true
	[ -n "$DNS" ] && kill "$DNS" 2>/dev/null || true
	postfix -c "$T/pf/etc" stop >/dev/null 2>&1 || true
	[ -f "$T/ebb.pid" ] && kill "$(cat "$T/ebb.pid")" 2>/dev/null || true
	sleep 0.5
	[ -x "$T/bin/cg" ] && "$T/bin/cg" rm "$CGNAME" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

echo "== building ebb and the test DNS"
mkdir -p "$T/bin" && chmod 755 "$T/bin"
go build -o "$T/bin/ebb" ./cmd/ebb
go build -o "$T/bin/dnsserver" ./bench/relay/dnsserver
go build -o "$T/bin/cg" ./bench/cgroup/cg
CG="$T/bin/cg" CGNAME="relay$$"
CGVER=$("$CG" version) || { echo "$0: no usable cgroup (v2 with the memory controller, or v1's cpuacct and memory)" >&2; exit 1; }

VM=ebbbench
bench_user "$VM"

DOMAINS=$(for i in 0 1 2 3 4 5 6 7 8 9; do echo "d$i.bench"; done)
records=()
for d in $DOMAINS; do records+=("$d. 300 IN MX 10 mx.$d." "mx.$d. 300 IN A 127.0.0.1"); done
"$T/bin/dnsserver" -listen "127.0.0.1:$DNS_PORT" "${records[@]}" >"$T/dns.out" 2>&1 &
DNS=$!

# ---- the remote: one smtp-sink for all ten domains, counting messages.
start_sink() {
	smtp-sink -u nobody -c "127.0.0.1:$SINK_PORT" 1024 >"$T/sink.out" 2>&1 &
	SINK=$!
	wait_port "$SINK_PORT" || exit 1
}
stop_sink() { kill "$SINK" 2>/dev/null || true; wait "$SINK" 2>/dev/null || true; SINK=; }
sink_count() { tr '\r' '\n' <"$T/sink.out" | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2; }

# ---- Postfix: a private instance relaying everything for *.bench.
setup_postfix() {
	rm -rf "$T/pf"
	postfix_instance "$T/pf" "$PF_PORT"
	: > "$T/pf/etc/transport"
	for d in $DOMAINS; do echo "$d smtp:[127.0.0.1]:$SINK_PORT" >> "$T/pf/etc/transport"; done
	cat >> "$T/pf/etc/main.cf" <<EOC
smtpd_relay_restrictions = permit_mynetworks, reject
transport_maps = texthash:$T/pf/etc/transport
EOC
	postfix_check "$T/pf"
}
start_postfix() {
	setup_postfix
	"$CG" create "$CGNAME"
	"$CG" exec "$CGNAME" -- postfix -c "$T/pf/etc" start >/dev/null 2>&1
	wait_port "$PF_PORT" || { tail -5 "$T/pf/maillog" >&2; exit 1; }
}
stop_postfix() { postfix -c "$T/pf/etc" stop >/dev/null 2>&1 || true; sleep 1; }
# ---- ebb: submission from loopback relays without AUTH (trusted_networks).
setup_ebb() {
	rm -rf "$T/ebb"
	mkdir -p "$T/ebb/data" "$T/ebb/mail" "$T/ebb/spool"
	{ ebb_conf_head "$T/ebb" "$VM"; cat <<EOC; } > "$T/ebb/ebb.toml"
[smtp]
listen = []
max_connections = 500
max_connections_per_ip = 500
[submission]
listen = ["127.0.0.1:$EBB_PORT"]
trusted_networks = ["127.0.0.1/32"]
tls_cert = "$T/ebb/cert.pem"
tls_key = "$T/ebb/key.pem"
[sendmail]
pickup_dir = "$T/ebb/pickup"
[dns]
resolver = "127.0.0.1:$DNS_PORT"
[relay]
port = $SINK_PORT
[metrics]
listen = "$( [ -n "$PROFILE" ] && echo "127.0.0.1:$((BASE + 4))" )"
pprof = $( [ -n "$PROFILE" ] && echo true || echo false )
[log]
level = "warn"
EOC
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench.example.net -days 2 \
		-keyout "$T/ebb/key.pem" -out "$T/ebb/cert.pem" >/dev/null 2>&1
	chown -R "$VM:$VM" "$T/ebb"
	runuser -u "$VM" -- "$T/bin/ebb" domain add -c "$T/ebb/ebb.toml" example.net >/dev/null
}
start_ebb() {
	setup_ebb
	"$CG" create "$CGNAME"
	"$CG" exec "$CGNAME" -- "$T/bin/ebb" serve -c "$T/ebb/ebb.toml" >"$T/ebb/serve.log" 2>&1 &
	echo $! > "$T/ebb.pid"
	wait_port "$EBB_PORT" || { tail -5 "$T/ebb/serve.log" >&2; exit 1; }
}
stop_ebb() { stop_pid "$T/ebb.pid"; }
# queued_deferred SYSTEM: how many messages wait deferred (the sink is down).
queued_deferred() {
	if [ "$1" = postfix ]; then
		find "$T/pf/queue/deferred" -type f 2>/dev/null | wc -l
	else
		"$T/bin/ebb" mailq -c "$T/ebb/ebb.toml" 2>/dev/null | grep -o 'recipients: [0-9]* deferred$' | grep -o '[0-9]*' || echo 0
	fi
}

wait_sink() { # wait_sink N -> count reached (or the deadline)
	local n deadline=$(( $(date +%s) + 600 ))
	while :; do
		n=$(sink_count); n=${n:-0}
		[ "$n" -ge "$1" ] && break
		if [ "$(date +%s)" -gt "$deadline" ]; then echo "only $n of $1 at the sink after 600 s" >&2; break; fi
		sleep 0.02
	done
	echo "$n"
}

# run_one SYSTEM -> prints "inject_msgs_s relay_msgs_s mem_kib relay_seconds
#   relay_cpu_ms_per_msg total_cpu_ms_per_msg"
# Phase 1: the sink is down; MESSAGES are injected and each is tried once
# and deferred (both systems then hold the destinations as dead). Phase 2:
# the sink comes up and the queue is flushed (postqueue -f, ebb queue
# flush: both revive dead destinations); the clock runs until the sink has
# them all. Phase 2 is the relay alone.
run_one() {
	local sys=$1 port n deadline per=$((MSGS / 10)) total
	total=$((per * 10))
	if [ "$sys" = postfix ]; then start_postfix; port=$PF_PORT; else start_ebb; port=$EBB_PORT; fi
	"$CG" mem "$CGNAME" > "$T/mem" & SAMPLER=$!
	local t0 t1 t2 pids=() cpu0 cpu1 cpu2
	read -r cpu0 _ < <("$CG" cpu "$CGNAME")
	t0=$(date +%s.%N)
	for d in $DOMAINS; do
		smtp-source -s 1 -m "$per" -l 1024 -f sender@example.net -t "rcpt@$d" "127.0.0.1:$port" >"$T/source.$d" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || { echo "$sys: smtp-source failed" >&2; cat "$T"/source.* >&2; }; done
	t1=$(date +%s.%N)
	deadline=$(( $(date +%s) + 600 ))
	until [ "$(queued_deferred "$sys")" -ge "$total" ]; do
		if [ "$(date +%s)" -gt "$deadline" ]; then echo "$sys: not all $total deferred after 600 s" >&2; break; fi
		sleep 0.5
	done
	start_sink
	read -r cpu1 _ < <("$CG" cpu "$CGNAME")
	t1b=$(date +%s.%N)
	if [ "$sys" = ebb ] && [ -n "$PROFILE" ]; then
		curl -s -o "$OUT/ebb-relay.pprof" "http://127.0.0.1:$((BASE + 4))/debug/pprof/profile?seconds=4" &
	fi
	if [ "$sys" = postfix ]; then postqueue -c "$T/pf/etc" -f; else "$T/bin/ebb" queue flush -c "$T/ebb/ebb.toml" >/dev/null; fi
	n=$(wait_sink "$total")
	t2=$(date +%s.%N)
	# The relay's CPU: until the system is idle after the last message
	# reached the sink (removing queue files, bookkeeping).
	read -r cpu2 _ < <("$CG" idle "$CGNAME")
	kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
	local mem; read -r mem _ < "$T/mem"
	if [ "$sys" = postfix ]; then stop_postfix; else stop_ebb; fi
	stop_sink
	awk -v n="$n" -v a="$t0" -v b="$t1" -v c="$t1b" -v d="$t2" -v r="$mem" -v m="$total" -v c0="$cpu0" -v c1="$cpu1" -v c2="$cpu2" \
		'BEGIN { printf "%.1f %.1f %d %.2f %.3f %.3f\n", m/(b-a), n/(d-c), r, d-c, (c2-c1)/1e6/n, (c2-c0)/1e6/n }'
}

median() { sort -n | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else printf "%g\n", (a[NR/2]+a[NR/2+1])/2 }'; }

RESULTS="$OUT/results.tsv"
printf "run\tsystem\tinject_msgs_s\trelay_msgs_s\tmem_mib\trelay_seconds\tload1\trelay_cpu_ms_msg\ttotal_cpu_ms_msg\n" > "$RESULTS"
echo "== $MSGS messages of 1 KiB over 10 domains per run, $RUNS runs each; load before: $(cut -d' ' -f1-3 /proc/loadavg); cgroup $CGVER"
for r in $(seq "$RUNS"); do
	for sys in postfix ebb; do
		read -r inj rate mem secs rcpu tcpu < <(run_one "$sys")
		[ -n "$rate" ] || { echo "$0: a $sys run failed" >&2; exit 1; }
		load=$(cut -d' ' -f1 /proc/loadavg)
		printf "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n" "$r" "$sys" "$inj" "$rate" "$(awk -v r="$mem" 'BEGIN{print r/1024}')" "$secs" "$load" "$rcpu" "$tcpu" >> "$RESULTS"
		echo "   run $r: $sys relays $rate msg/s (${secs}s, $rcpu CPU ms/msg; injection $inj msg/s; $tcpu CPU ms/msg in all), memory $(awk -v r="$mem" 'BEGIN{printf "%.1f", r/1024}') MiB, load $load"
	done
done

col() { awk -F'\t' -v s="$1" -v c="$2" '$2==s {print $c}' "$RESULTS" | median; }
echo
echo "== $MSGS × 1 KiB over 10 domains to smtp-sink (median of $RUNS runs)"
printf "%-10s %12s %16s %16s %16s %12s\n" system "relay msg/s" "relay CPU ms/msg" "all CPU ms/msg" "injection msg/s" "memory MiB"
for sys in postfix ebb; do
	printf "%-10s %12s %16s %16s %16s %12s\n" $sys "$(col $sys 4)" "$(col $sys 8)" "$(col $sys 9)" "$(col $sys 3)" "$(col $sys 5)"
done
printf "relay ratio ebb/postfix: %sx msgs/s (target >= 2x), %sx CPU per message (target <= 0.5x); injection ratio: %sx; load after: %s\n" \
	"$(awk -v a="$(col ebb 4)" -v b="$(col postfix 4)" 'BEGIN { printf "%.2f", a/b }')" \
	"$(awk -v a="$(col ebb 8)" -v b="$(col postfix 8)" 'BEGIN { printf "%.2f", (b > 0 ? a/b : 0) }')" \
	"$(awk -v a="$(col ebb 3)" -v b="$(col postfix 3)" 'BEGIN { printf "%.2f", a/b }')" "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "CPU ms/msg: the system's own CPU time per message from its cgroup ($CGVER), all its processes; relay: from the flush until it is idle after the sink counted the last message; all: from the first injected message (receiving, one refused attempt while the sink is down, the relay)"
echo "memory: the peak of the system's cgroup memory without the page cache (anonymous + kernel memory, sampled every 20 ms)"
