#!/bin/bash
# bench/serve: ebb serve against Postfix 3.7 (smtpd → cleanup → qmgr →
# virtual(8) into a Maildir), both durable, both fed by Postfix's
# smtp-source on loopback. For each message size and session count it
# measures delivered messages per second end to end (from the first
# connection until the last file is in the Maildir's new/) and, from the
# control group each system runs in (bench/cgroup: v1 or v2), its own CPU
# time per delivered message and its peak memory without the page cache
# (sampled every 20 ms; the kernel's own high-water mark, page cache
# included, is in the TSV). smtp-source runs outside the group: the CPU
# figure is the system's work alone, which a throughput ratio on a 2-core
# machine cannot show. Prints a table with ratios and writes a chart (SVG).
#
# Before the systems it measures the disk's own durable-create rate (write
# + fsync + rename + directory fsync, bench/serve/diskrate) with 1 and 32
# writers on the same filesystem: the physical limit. Each system's rate is
# also printed as a share of it (a message costs at least two durable
# creates in either system: the queue file and the Maildir file). With -r
# ROUNDS every cell runs ROUNDS times, Postfix and ebb alternating, and the
# medians are compared (the machine is shared: the load average is printed).
#
# Usage: bench/serve/run.sh [-m MESSAGES] [-z "1024 65536"] [-s "1 10 50"] [-r ROUNDS] [-o OUTDIR] [-e EBB_BINARY] [-C] [-p SECONDS]
# -e runs a given ebb binary instead of building the tree's (before/after
# comparisons with the same harness); -C skips the row with ebb's default
# checks; -p takes a CPU profile of ebb (Go's pprof, metrics.pprof) for
# SECONDS, starting half a second into each ebb run, into
# OUTDIR/ebb-SIZE-SESSIONS.pprof with its top 25 beside it (.top.txt). A
# profile costs ebb CPU while it runs: take the figures from a run without -p.
# Run as root on Debian 12 with postfix installed (test/packages.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
. bench/lib.sh

MSGS=5000
SIZES="1024 65536"
SESSIONS="1 10 50"
ROUNDS=1
OUT=bench/serve/out
EBB_GIVEN=
CHECKS_ROW=1
PROFILE=
while getopts "m:z:s:r:o:e:Cp:" o; do
	case $o in
	m) MSGS=$OPTARG ;; z) SIZES=$OPTARG ;; s) SESSIONS=$OPTARG ;; r) ROUNDS=$OPTARG ;; o) OUT=$OPTARG ;;
	e) EBB_GIVEN=$(realpath "$OPTARG") ;; C) CHECKS_ROW= ;; p) PROFILE=$OPTARG ;;
	*) echo "usage: $0 [-m MESSAGES] [-z SIZES] [-s SESSIONS] [-r ROUNDS] [-o OUTDIR] [-e EBB_BINARY] [-C] [-p SECONDS]" >&2; exit 64 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "$0: run as root (Postfix needs it to start)" >&2; exit 1; }
command -v smtp-source >/dev/null || { echo "$0: smtp-source missing: apt-get install postfix" >&2; exit 1; }

T=$(mktemp -d /var/tmp/ebb-bench-serve.XXXXXX)
chmod 755 "$T"
mkdir -p "$OUT"
PF_PORT=$((20000 + RANDOM % 10000))
EBB_PORT=$((PF_PORT + 1))
SAMPLER=
DNS=
cleanup() {
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
	# run_one runs in a subshell (< <(...)): its samplers are known by
	# their pid files.
	for pf in "$T/mem.pid" "$T/perf.pid"; do [ -f "$pf" ] && kill "$(cat "$pf")" 2>/dev/null || true; done
	[ -n "$DNS" ] && kill "$DNS" 2>/dev/null || true
	postfix -c "$T/pf/etc" stop >/dev/null 2>&1 || true
	[ -f "$T/ebb.pid" ] && kill "$(cat "$T/ebb.pid")" 2>/dev/null || true
	sleep 0.5
	[ -x "$T/bin/cg" ] && "$T/bin/cg" rm "serve$$" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

echo "== building ebb"
mkdir -p "$T/bin" && chmod 755 "$T/bin"
if [ -n "$EBB_GIVEN" ]; then cp "$EBB_GIVEN" "$T/bin/ebb"; echo "   ebb: $EBB_GIVEN"; else go build -o "$T/bin/ebb" ./cmd/ebb; fi
go build -o "$T/bin/diskrate" ./bench/serve/diskrate
go build -o "$T/bin/cg" ./bench/cgroup/cg
CG="$T/bin/cg" CGNAME="serve$$"
CGVER=$("$CG" version) || { echo "$0: no usable cgroup (v2 with the memory controller, or v1's cpuacct and memory)" >&2; exit 1; }
go build -o "$T/bin/waitnew" ./bench/serve/waitnew
go build -o "$T/bin/dnsserver" ./bench/relay/dnsserver

# A DNS server on loopback for the one row that runs ebb with its default
# inbound checks (SPF, DKIM, DMARC): the sender's domain publishes SPF and
# DMARC, so every check has an answer at once and nothing leaves the
# machine. The main comparison runs ebb with auth.check = false, like for
# like: the Postfix here checks nothing.
DNS_PORT=$((EBB_PORT + 1))
METRICS_PORT=$((EBB_PORT + 2))
PERF=
if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_fsync true >/dev/null 2>&1; then PERF=1; fi
"$T/bin/dnsserver" -listen "127.0.0.1:$DNS_PORT" \
	'example.org. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"' \
	'_dmarc.example.org. 300 IN TXT "v=DMARC1; p=none"' >"$T/dns.out" 2>&1 &
DNS=$!

echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg); cgroup $CGVER"
echo "== the disk's durable-create rate (write 1 KiB + fsync + rename + directory fsync), in $T"
mkdir -p "$T/disk"
read -r _ DISK1 DISK1_MS < <("$T/bin/diskrate" -dir "$T/disk" -writers 1 -time 5s)
read -r _ DISK32 DISK32_MS < <("$T/bin/diskrate" -dir "$T/disk" -writers 32 -time 5s)
echo "   1 writer: $DISK1 creates/s (median $DISK1_MS ms); 32 writers: $DISK32 creates/s (median $DISK32_MS ms)"

VM=ebbbench
bench_user "$VM"
VUID=$(id -u "$VM"); VGID=$(id -g "$VM")

# ---- Postfix: a private instance from its own config, queue and data directories.
# The systems' trees are made once per bench run and kept across its runs
# (only the processes restart): a spool and Maildir used for a while is what
# a server has. Fresh ones were a bench artifact: ebb's delivered rate on
# new directories started at a third of the rate on used ones and rose over
# the first 10,000 messages (ext4 block groups and directory blocks being
# allocated), so each system also gets one unmeasured warm-up run first.
setup_postfix() {
	[ -d "$T/pf" ] && return 0
	postfix_instance "$T/pf" "$PF_PORT"
	mkdir -p "$T/pf/mail"
	chown "$VM:$VM" "$T/pf/mail"
	cat >> "$T/pf/etc/main.cf" <<EOC
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = example.test
virtual_mailbox_base = $T/pf/mail
virtual_mailbox_maps = texthash:$T/pf/etc/vmailbox
virtual_uid_maps = static:$VUID
virtual_gid_maps = static:$VGID
virtual_mailbox_limit = 0
default_destination_concurrency_limit = 50
virtual_destination_concurrency_limit = 50
EOC
	echo "bench@example.test example.test/bench/Maildir/" > "$T/pf/etc/vmailbox"
	postfix_check "$T/pf"
}

start_postfix() {
	setup_postfix
	rm -f "$T/pf/queue/pid/master.pid"
	# master and every daemon it starts are born in the group.
	"$CG" create "$CGNAME"
	"$CG" exec "$CGNAME" -- postfix -c "$T/pf/etc" start >/dev/null 2>&1
	wait_port "$PF_PORT" || exit 1
}
stop_postfix() { postfix -c "$T/pf/etc" stop >/dev/null 2>&1 || true; sleep 1; }

# ---- ebb
# setup_ebb CHECKS: CHECKS is "off" (auth.check = false, the comparison) or
# "dns" (ebb's default checks, asking the loopback DNS above).
setup_ebb() {
	local auth
	if [ "${1:-off}" = dns ]; then
		auth=$(printf '[auth]\ncheck = true\n[dns]\nresolver = "127.0.0.1:%s"\n' "$DNS_PORT")
	else
		auth=$(printf '[auth]\ncheck = false\n')
	fi
	local fresh=
	[ -d "$T/ebb" ] || fresh=1
	mkdir -p "$T/ebb"
	{ ebb_conf_head "$T/ebb" "$VM"; ebb_conf_smtp "$EBB_PORT" "${PROFILE:+127.0.0.1:$METRICS_PORT}"; printf '%s\n' "$auth"; } > "$T/ebb/ebb.toml"
	[ -n "$fresh" ] || return 0
	mkdir -p "$T/ebb/data" "$T/ebb/mail" "$T/ebb/spool"
	chown -R "$VM:$VM" "$T/ebb"
	runuser -u "$VM" -- "$T/bin/ebb" domain add -c "$T/ebb/ebb.toml" example.test >/dev/null 2>&1
	runuser -u "$VM" -- "$T/bin/ebb" user add -c "$T/ebb/ebb.toml" --no-password bench@example.test >/dev/null 2>"$T/ebb/setup.err" || { cat "$T/ebb/setup.err" >&2; exit 1; }
}
start_ebb() {
	setup_ebb "$1"
	"$CG" create "$CGNAME"
	"$CG" exec "$CGNAME" -- "$T/bin/ebb" serve -c "$T/ebb/ebb.toml" >"$T/ebb/serve.log" 2>&1 &
	echo $! > "$T/ebb.pid"
	wait_port "$EBB_PORT" || exit 1
}
stop_ebb() { stop_pid "$T/ebb.pid"; }

# What each system costs is read from its control group (bench/cgroup/cg):
# CPU time from just before smtp-source starts until the system is idle
# after the last delivery (cg idle: it finishes removing spool files and
# its bookkeeping), and the peak of its memory without the page cache,
# sampled every 20 ms over the same span.
# run_one SYSTEM SIZE SESSIONS -> prints
#   "msgs_per_s mem_kib seconds flushes_per_msg cpu_ms_per_msg kernel_peak_kib"
# SYSTEM is postfix, ebb (checks off) or ebb-dns (default checks, loopback DNS).
run_one() {
	local sys=$1 size=$2 sess=$3 port newdir
	if [ "$sys" = postfix ]; then
		start_postfix; port=$PF_PORT; newdir="$T/pf/mail/example.test/bench/Maildir/new"
	else
		start_ebb "$([ "$sys" = ebb-dns ] && echo dns || echo off)"; port=$EBB_PORT; newdir="$T/ebb/mail/example.test/bench/Maildir/new"
	fi
	local tree=pf c0
	[ "$sys" = postfix ] || tree=ebb
	if [ ! -f "$T/$tree.warm" ]; then
		# The warm-up, then a restart: the measured run starts with the
		# system's own processes only (Postfix keeps idle daemons).
		c0=$("$T/bin/waitnew" -dir "$newdir" -n 0 | cut -d' ' -f1)
		smtp-source -s 50 -m 2000 -l 1024 -f sender@example.org -t bench@example.test "127.0.0.1:$port" >/dev/null 2>&1 || true
		"$T/bin/waitnew" -dir "$newdir" -n $((c0 + 2000)) -timeout 300s >/dev/null || true
		touch "$T/$tree.warm"
		if [ "$sys" = postfix ]; then stop_postfix; start_postfix; else stop_ebb; start_ebb "$([ "$sys" = ebb-dns ] && echo dns || echo off)"; fi
	fi
	c0=$("$T/bin/waitnew" -dir "$newdir" -n 0 | cut -d' ' -f1)
	"$CG" mem "$CGNAME" >"$T/mem" & SAMPLER=$!
	echo "$SAMPLER" > "$T/mem.pid"
	# Flushes (fsync, fdatasync, syncfs) counted per process name by the
	# kernel's syscall tracepoints, when perf is there: only the system
	# under test's own processes are summed (other work on the machine is
	# left out).
	local perfpid=
	if [ -n "$PERF" ]; then
		perf record -q -a -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_syncfs \
			-o "$T/flush.data" >/dev/null 2>&1 & perfpid=$!
		echo "$perfpid" > "$T/perf.pid"
		sleep 0.3
	fi
	local t0 t1 n cpu0 cpu1
	read -r cpu0 _ < <("$CG" cpu "$CGNAME")
	t0=$(date +%s.%N)
	smtp-source -s "$sess" -m "$MSGS" -l "$size" -f sender@example.org -t bench@example.test "127.0.0.1:$port" \
		>"$T/source.out" 2>&1 & local src=$!
	if [ -n "$PROFILE" ] && [ "$sys" = ebb ]; then
		sleep 0.5
		curl -s -o "$OUT/ebb-$size-$sess.pprof" "http://127.0.0.1:$METRICS_PORT/debug/pprof/profile?seconds=$PROFILE" || true
		go tool pprof -top -nodecount=25 "$T/bin/ebb" "$OUT/ebb-$size-$sess.pprof" >"$OUT/ebb-$size-$sess.top.txt" 2>/dev/null || true
	fi
	wait "$src" || { echo "smtp-source failed:" >&2; cat "$T/source.out" >&2; }
	# The end: the last file in new/ (bench/serve/waitnew polls it every 10 ms).
	# new/ keeps the earlier runs' files: wait for MSGS more than before.
	read -r n t1 < <("$T/bin/waitnew" -dir "$newdir" -n $((c0 + MSGS)) -timeout 600s || true)
	n=$(( ${n:-0} - c0 ))
	[ "$n" -ge "$MSGS" ] || echo "$sys: only $n of $MSGS delivered after 600 s" >&2
	read -r cpu1 _ < <("$CG" idle "$CGNAME")
	kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=; rm -f "$T/mem.pid"
	local mem kpeak; read -r mem kpeak < "$T/mem"; mem=${mem:-0}; kpeak=${kpeak:-0}
	local flushes=-1
	if [ -n "$perfpid" ]; then
		kill -INT "$perfpid" 2>/dev/null; wait "$perfpid" 2>/dev/null || true; rm -f "$T/perf.pid"
		flushes=$(flushes_of "$sys")
	fi
	if [ "$sys" = postfix ]; then stop_postfix; else stop_ebb; fi
	sync
	sleep 1
	awk -v n="$n" -v a="$t0" -v b="$t1" -v r="$mem" -v f="$flushes" -v c0="$cpu0" -v c1="$cpu1" -v k="$kpeak" \
		'BEGIN { printf "%.1f %d %.2f %s %.3f %d\n", n/(b-a), r, b-a, (f < 0 ? "-" : sprintf("%.2f", f/n)), (c1-c0)/1e6/n, k }'
}

# flushes_of SYSTEM: the flush system calls made by SYSTEM's processes in
# the last run (perf's per-command counts; Postfix's daemons by name).
flushes_of() {
	local re='^ebb$'
	[ "$1" = postfix ] && re='^(smtpd|cleanup|qmgr|virtual|trivial-rewrite|master|pickup|anvil|postlog|tlsmgr|bounce|proxymap)$'
	perf report -i "$T/flush.data" --sort comm -F sample,comm --stdio 2>/dev/null |
		awk -v re="$re" '!/^#/ && NF == 2 && $2 ~ re { n += $1 } END { print n + 0 }'
}

# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# disk_for SESSIONS: the disk's rate with as many writers as the cell has
# concurrency (1 writer for 1 session, 32 otherwise).
disk_for() { if [ "$1" -le 1 ]; then echo "$DISK1"; else echo "$DISK32"; fi; }

RESULTS="$OUT/results.tsv"
printf "size\tsessions\tpostfix_msgs_s\tebb_msgs_s\tratio\tpostfix_mem_mib\tebb_mem_mib\tdisk_creates_s\tebb_share_of_disk\tpostfix_flushes_msg\tebb_flushes_msg\tpostfix_cpu_ms_msg\tebb_cpu_ms_msg\tcpu_ratio\tpostfix_kernel_peak_mib\tebb_kernel_peak_mib\n" > "$RESULTS"
echo "== $MSGS messages per run, $ROUNDS round(s) per cell; sizes: $SIZES; sessions: $SESSIONS"
for size in $SIZES; do
	for sess in $SESSIONS; do
		: > "$T/pf.runs"; : > "$T/ebb.runs"
		for r in $(seq "$ROUNDS"); do
			read -r pf_rate pf_mem pf_t pf_fl pf_cpu pf_kp < <(run_one postfix "$size" "$sess")
			read -r ebb_rate ebb_mem ebb_t ebb_fl ebb_cpu ebb_kp < <(run_one ebb "$size" "$sess")
			# run_one's own "exit 1" only ends its subshell: stop here rather
			# than go on with empty figures.
			[ -n "$pf_rate" ] && [ -n "$ebb_rate" ] || { echo "$0: a run failed (size $size, $sess sessions)" >&2; exit 1; }
			echo "$pf_rate $pf_mem $pf_fl $pf_cpu $pf_kp" >> "$T/pf.runs"; echo "$ebb_rate $ebb_mem $ebb_fl $ebb_cpu $ebb_kp" >> "$T/ebb.runs"
			echo "   size $size, $sess sessions, round $r: postfix $pf_rate msg/s (${pf_t}s, $pf_cpu CPU ms/msg, $pf_fl flushes/msg), ebb $ebb_rate msg/s (${ebb_t}s, $ebb_cpu CPU ms/msg, $ebb_fl flushes/msg), load $(cut -d' ' -f1 /proc/loadavg)"
		done
		pf_rate=$(awk '{print $1}' "$T/pf.runs" | median); ebb_rate=$(awk '{print $1}' "$T/ebb.runs" | median)
		pf_mem=$(awk '{print $2}' "$T/pf.runs" | sort -g | tail -1); ebb_mem=$(awk '{print $2}' "$T/ebb.runs" | sort -g | tail -1)
		pf_kp=$(awk '{print $5}' "$T/pf.runs" | sort -g | tail -1); ebb_kp=$(awk '{print $5}' "$T/ebb.runs" | sort -g | tail -1)
		pf_fl=$(awk '$3 != "-" {print $3}' "$T/pf.runs" | median); ebb_fl=$(awk '$3 != "-" {print $3}' "$T/ebb.runs" | median)
		pf_cpu=$(awk '{print $4}' "$T/pf.runs" | median); ebb_cpu=$(awk '{print $4}' "$T/ebb.runs" | median)
		[ -n "$PERF" ] || { pf_fl=-; ebb_fl=-; }
		disk=$(disk_for "$sess")
		ratio=$(awk -v a="$ebb_rate" -v b="$pf_rate" 'BEGIN { printf "%.2f", a/b }')
		share=$(awk -v a="$ebb_rate" -v b="$disk" 'BEGIN { printf "%.2f", a/b }')
		cratio=$(awk -v a="$ebb_cpu" -v b="$pf_cpu" 'BEGIN { printf "%.2f", (b > 0 ? a/b : 0) }')
		mib() { awk -v r="$1" 'BEGIN { printf "%.1f", r/1024 }'; }
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$size" "$sess" "$pf_rate" "$ebb_rate" "$ratio" \
			"$(mib "$pf_mem")" "$(mib "$ebb_mem")" "$disk" "$share" "${pf_fl:--}" "${ebb_fl:--}" \
			"$pf_cpu" "$ebb_cpu" "$cratio" "$(mib "$pf_kp")" "$(mib "$ebb_kp")" >> "$RESULTS"
	done
done

# The cost of ebb's default inbound checks (SPF for MAIL FROM and HELO,
# DKIM, DMARC) asking the loopback DNS: ebb alone, 1 KiB, every session
# count, medians of ROUNDS. Postfix here has no such checks to compare.
# ebb without the checks runs again in the same rounds, alternating, so
# that both medians see the same load and the same tree (the main
# matrix's ran earlier).
CHECKS="$OUT/checks.tsv"
printf "size\tsessions\tebb_msgs_s\tebb_checks_dns_msgs_s\tcost\tebb_cpu_ms_msg\tebb_checks_dns_cpu_ms_msg\n" > "$CHECKS"
size1=$(echo "$SIZES" | awk '{print $1}')
for sess in $SESSIONS; do
	[ -n "$CHECKS_ROW" ] || break
	: > "$T/dns.runs"; : > "$T/nodns.runs"
	for r in $(seq "$ROUNDS"); do
		read -r e_rate _ e_t _ e_cpu _ < <(run_one ebb "$size1" "$sess")
		read -r d_rate _ d_t _ d_cpu _ < <(run_one ebb-dns "$size1" "$sess")
		[ -n "$e_rate" ] && [ -n "$d_rate" ] || { echo "$0: a checks run failed ($sess sessions)" >&2; exit 1; }
		echo "$e_rate $e_cpu" >> "$T/nodns.runs"; echo "$d_rate $d_cpu" >> "$T/dns.runs"
		echo "   size $size1, $sess sessions, round $r: ebb $e_rate msg/s (${e_t}s, $e_cpu CPU ms/msg), with its default checks (loopback DNS) $d_rate msg/s (${d_t}s, $d_cpu CPU ms/msg), load $(cut -d' ' -f1 /proc/loadavg)"
	done
	d_rate=$(awk '{print $1}' "$T/dns.runs" | median); d_cpu=$(awk '{print $2}' "$T/dns.runs" | median)
	e_rate=$(awk '{print $1}' "$T/nodns.runs" | median); e_cpu=$(awk '{print $2}' "$T/nodns.runs" | median)
	printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$size1" "$sess" "$e_rate" "$d_rate" \
		"$(awk -v a="$d_rate" -v b="$e_rate" 'BEGIN { printf "%.2f", (b > 0 ? a/b : 0) }')" "$e_cpu" "$d_cpu" >> "$CHECKS"
done

echo
echo "== delivered messages per second, end to end (smtp-source → Maildir new/), $MSGS messages per run, median of $ROUNDS"
awk -F'\t' 'NR==1 { printf "%-7s %-5s %9s %9s %7s %11s %11s %7s %10s %10s %9s %9s %9s %8s\n", "size", "sess", "pf msg/s", "ebb msg/s", "ebb/pf", "pf CPU ms", "ebb CPU ms", "ebb/pf", "pf MiB", "ebb MiB", "disk cr/s", "ebb/disk", "pf fl/msg", "ebb fl"; next }
	{ printf "%-7s %-5s %9s %9s %6sx %11s %11s %6sx %10s %10s %9s %9s %9s %8s\n", ($1>=1024 ? $1/1024 " KiB" : $1 " B"), $2, $3, $4, $5, $12, $13, $14, $6, $7, $8, $9, $10, $11 }' "$RESULTS"
echo "CPU ms: the system's own CPU time per delivered message, from its cgroup ($CGVER): all its processes, user + system, from the first connection until it is idle after the last delivery; smtp-source is outside"
echo "MiB: the peak of the system's cgroup memory without the page cache (anonymous + kernel memory, sampled every 20 ms), the max over rounds; the kernel's high-water mark with the page cache is in results.tsv"
echo "disk: durable creates/s of the same filesystem in this run (1 writer for 1 session, 32 writers otherwise); ebb/disk is ebb's share of it"
echo "fl/msg: fsync + fdatasync + syncfs calls of the system's own processes per delivered message (perf's syscall tracepoints; - without perf)"
echo "ebb runs with auth.check = false here (like for like: this Postfix checks nothing; ebb makes no DNS query)."
echo
echo "== ebb with its default inbound checks (SPF, DKIM, DMARC) against a loopback DNS server, $(echo "$SIZES" | awk '{print $1}') bytes"
awk -F'\t' 'NR==1 { printf "%-9s %-9s %18s %22s %8s %14s %18s\n", "size", "sessions", "ebb checks off", "ebb checks, loop DNS", "ratio", "CPU ms off", "CPU ms checks"; next }
	{ printf "%-9s %-9s %18s %22s %7sx %14s %18s\n", ($1>=1024 ? $1/1024 " KiB" : $1 " B"), $2, $3, $4, $5, $6, $7 }' "$CHECKS"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "targets (issue 28): at 50 sessions, 1 KiB and 64 KiB, ebb >= 2.5x Postfix's msgs/s and <= 0.33x its CPU ms per message; >= 2x at 10 sessions; ebb's rate rising from 1 to 10 to 50 sessions; ebb's memory < 100 MiB at 50 sessions"

python3 bench/serve/chart.py "$RESULTS" "$OUT/serve.svg"
echo "chart: $OUT/serve.svg"
