#!/bin/bash
# bench/fetch/run.sh: ebb fetch vs fetchmail vs getmail6, side by side.
#
# One Dovecot on loopback (IMAPS 993-style and POP3S, a self-signed
# certificate that every client verifies with its CA file) serves a
# mailbox of N (5000) messages of 4 KiB. Each tool fetches all of it once
# (keep on the server) into a Maildir on the same disk (/var/tmp), as the
# same unprivileged user, over IMAPS and over POP3S; the mailbox and the
# server's indexes are reset between runs. Prints seconds, msgs/s and the
# ratio ebb/peer, with the load average. Run as root:
#
#   sudo bench/fetch/run.sh          # N=5000
#   sudo N=1000 bench/fetch/run.sh
#   sudo N=200 OUT=/tmp bench/fetch/run.sh   # the results file elsewhere than bench/fetch/results
#   sudo TOOLS="ebb fetchmail" bench/fetch/run.sh  # without getmail6 (its POP3 runs can stall for many minutes)
#
# How each delivers: ebb fetch run queues every message durably (fsync)
# and delivers it from the queue into the Maildir (fsync), recording each
# UID after it is queued. fetchmail hands each message to an MDA, maildrop
# (one process per message, fsync; fetchmail's default, SMTP to port 25,
# needs an MTA, which would measure the MTA). getmail6 writes its Maildir
# itself. Each tool runs in a control group of its own (bench/cgroup, v1
# or v2), with every process it starts (fetchmail's maildrops): its CPU
# time per message and its peak memory without the page cache are printed
# beside the rate; Dovecot is outside. Target (issue 28): ebb >= 3x
# fetchmail + an MDA with the same durability.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
N=${N:-5000}
TOOLS=${TOOLS:-ebb fetchmail getmail}
U=ebbbench
if [ "$(id -u)" != 0 ]; then echo "run as root (it runs every client as the user $U)" >&2; exit 1; fi
for p in dovecot-core dovecot-imapd dovecot-pop3d fetchmail getmail6 maildrop openssl bc; do
	dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'install ok installed' ||
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $p >/dev/null
done

B=$(mktemp -d /var/tmp/ebb-fetchbench.XXXXXX)
chmod 755 "$B"
id $U >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir "$B/home" --shell /usr/sbin/nologin $U
usermod -d "$B/home" $U 2>/dev/null || true
UID_=$(id -u $U); GID_=$(id -g $U)
as_user() { setpriv --reuid="$UID_" --regid="$GID_" --clear-groups env HOME="$B/home" USER=$U LOGNAME=$U PATH=/usr/bin:/bin "$@"; }
DOVECOT_PID=
cleanup() {
	[ -n "$DOVECOT_PID" ] && kill "$DOVECOT_PID" 2>/dev/null && sleep 1
	[ -x "$B/bin/cg" ] && "$B/bin/cg" rm "fetch$$" 2>/dev/null || true
	rm -rf "$B"
}
trap cleanup EXIT

go build -o "$B/bin/ebb" ./cmd/ebb
go build -o "$B/bin/cg" ./bench/cgroup/cg
CG="$B/bin/cg" CGNAME="fetch$$"
CGVER=$("$CG" version) || { echo "$0: no usable cgroup (v2 with the memory controller, or v1's cpuacct and memory)" >&2; exit 1; }
mkdir -p "$B/home" "$B/d/run" "$B/d/state" "$B/d/ssl" "$B/template/Maildir/"{cur,new,tmp} "$B/out"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$B/d/ssl/key.pem" -out "$B/d/ssl/cert.pem" 2>/dev/null
chmod 644 "$B/d/ssl/cert.pem"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
IMAPS=$(port); POP3S=$(port)
echo "remote:{PLAIN}benchpw:$UID_:$GID_::$B/remote::" > "$B/d/users"
cat > "$B/d/dovecot.conf" <<CONF
instance_name = ebbfetchbench
base_dir = $B/d/run
state_dir = $B/d/state
log_path = $B/d/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <$B/d/ssl/cert.pem
ssl_key = <$B/d/ssl/key.pem
auth_mechanisms = plain login
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $B/d/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $B/d/users
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $POP3S
    ssl = yes
  }
}
CONF

# The mailbox: N messages of 4 KiB, each with its own Message-ID.
python3 - "$B/template/Maildir/new" "$N" <<'PY'
import sys, os
d, n = sys.argv[1], int(sys.argv[2])
line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
for i in range(n):
    h = ("From: Bob <bob@example.net>\r\nTo: remote@example.net\r\nSubject: bench %d\r\n"
         "Message-ID: <bench%d@example.net>\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\n\r\n" % (i, i))
    body = (line * 60)[: 4096 - len(h)]
    m = (h + body).encode()
    name = "1767261600.M%dP1.bench,S=%d" % (i, len(m))
    with open(os.path.join(d, name), "wb") as f:
        f.write(m)
PY
reset_mailbox() {
	rm -rf "$B/remote"
	cp -a "$B/template" "$B/remote"
	chown -R $U:$U "$B/remote"
}
reset_mailbox
chown -R $U:$U "$B/home" "$B/out"
dovecot -c "$B/d/dovecot.conf" -F &
DOVECOT_PID=$!
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$IMAPS) 2>/dev/null && break; sleep 0.1; done

# ebb: a data dir, a spool and a mailbox per run.
ebb_setup() { # $1 = run name
	local r="$B/ebb-$1"
	mkdir -p "$r/data" "$r/mail" "$r/spool"
	cat > "$r/ebb.toml" <<CONF
[server]
user = "$U"
hostname = "bench.example.test"
data_dir = "$r/data"
[mail]
root = "$r/mail"
[queue]
spool = "$r/spool"
CONF
	chown -R $U:$U "$r"
	chmod 700 "$r/spool"
	as_user "$B/bin/ebb" domain add -c "$r/ebb.toml" example.test >/dev/null
	as_user "$B/bin/ebb" user add -c "$r/ebb.toml" --no-password local@example.test >/dev/null
}
count() { find "$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l; }
distinct() { (find "$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) -exec grep -hi '^Message-ID:' {} + || true) | tr -d '\r' | sort -u | wc -l; }

declare -A SECS STALLS GOT TRIES DIST CPU MEM
GM_TIMEOUT=2
now() { date +%s.%N; }
# measured KEY CMD...: runs CMD in a fresh cgroup; KEY's CPU time (ms, all
# its processes) and peak memory without the page cache (KiB) accumulate
# over the calls (getmail6 is restarted after each stall).
measured() {
	local k=$1 c0 c1 mem rc=0; shift
	"$CG" create "$CGNAME"
	"$CG" mem "$CGNAME" > "$B/mem" & local sampler=$!
	read -r c0 _ < <("$CG" cpu "$CGNAME")
	"$CG" exec "$CGNAME" -- "$@" || rc=$?
	read -r c1 _ < <("$CG" idle "$CGNAME")
	kill "$sampler"; wait "$sampler" || true
	read -r mem _ < "$B/mem"
	"$CG" rm "$CGNAME"
	CPU[$k]=$(echo "${CPU[$k]:-0} + ($c1 - $c0) / 1000000" | bc -l)
	[ "${mem:-0}" -gt "${MEM[$k]:-0}" ] && MEM[$k]=$mem
	return $rc
}
run_ebb() { # $1 = imap|pop3
	local r="$B/ebb-$1" port=$IMAPS
	[ "$1" = pop3 ] && port=$POP3S
	ebb_setup "$1"
	echo benchpw | as_user "$B/bin/ebb" fetch add -c "$r/ebb.toml" bench --protocol "$1" --server "127.0.0.1:$port" \
		--user remote --to local@example.test --ca-file "$B/d/ssl/cert.pem" >/dev/null
	local t0; t0=$(now)
	measured "ebb-$1" setpriv --reuid="$UID_" --regid="$GID_" --clear-groups env HOME="$B/home" USER=$U LOGNAME=$U PATH=/usr/bin:/bin \
		"$B/bin/ebb" fetch run -c "$r/ebb.toml" bench > "$B/out/ebb-$1.log" 2>&1
	SECS[ebb-$1]=$(echo "$(now) - $t0" | bc)
	GOT[ebb-$1]=$N DIST[ebb-$1]=$N
	local c; c=$(count "$r/mail")
	[ "$c" = "$N" ] || { echo "ebb $1 delivered $c of $N"; cat "$B/out/ebb-$1.log"; exit 1; }
}
run_fetchmail() {
	local r="$B/fm-$1" port=$IMAPS
	[ "$1" = pop3 ] && port=$POP3S
	mkdir -p "$r/Maildir/"{cur,new,tmp}
	printf 'DEFAULT="%s/Maildir/"\nto "%s/Maildir/"\n' "$r" "$r" > "$r/mailfilter"
	cat > "$r/fetchmailrc" <<RC
set no syslog
poll 127.0.0.1 service $port protocol $1 auth password
  user "remote" password "benchpw" is "$U" here
  ssl sslcertck sslcertfile "$B/d/ssl/cert.pem" sslcommonname localhost
  keep fetchall
  mda "/usr/bin/maildrop $r/mailfilter"
RC
	chmod 600 "$r/fetchmailrc" "$r/mailfilter"
	chown -R $U:$U "$r"
	local t0; t0=$(now)
	measured "fetchmail-$1" setpriv --reuid="$UID_" --regid="$GID_" --clear-groups env HOME="$B/home" USER=$U LOGNAME=$U PATH=/usr/bin:/bin \
		FETCHMAILHOME="$r" fetchmail -f "$r/fetchmailrc" --pidfile "$r/pid" --nodetach -s > "$B/out/fm-$1.log" 2>&1 || true
	SECS[fetchmail-$1]=$(echo "$(now) - $t0" | bc)
	GOT[fetchmail-$1]=$N DIST[fetchmail-$1]=$N
	local c; c=$(count "$r/Maildir")
	[ "$c" = "$N" ] || { echo "fetchmail $1 delivered $c of $N"; tail "$B/out/fm-$1.log"; exit 1; }
}
run_getmail() {
	local r="$B/gm-$1" port=$IMAPS type=SimpleIMAPSSLRetriever
	[ "$1" = pop3 ] && port=$POP3S && type=SimplePOP3SSLRetriever
	mkdir -p "$r/Maildir/"{cur,new,tmp} "$r/state"
	cat > "$r/getmailrc" <<RC
[retriever]
type = $type
server = 127.0.0.1
port = $port
username = remote
password = benchpw
ca_certs = $B/d/ssl/cert.pem
ssl_cert_hostname = localhost
timeout = $GM_TIMEOUT
[destination]
type = Maildir
path = $r/Maildir/
[options]
read_all = false
delete = false
to_oldmail_on_each_mail = true
verbose = 0
RC
	chown -R $U:$U "$r"
	# getmail6 6.18 forks a child per message and installs its SIGCHLD
	# handler only after fork() (baseclasses.py, forkchild): a child that
	# exits first is never seen, getmail waits out its socket timeout and
	# stops with "waiting child pid N timed out". The run is resumed
	# (read_all = false: it skips what it delivered) and each stall's
	# timeout is taken off its time, so that getmail is measured, not its
	# race.
	local t0 tries=0 stalls=0; t0=$(now)
	while :; do
		tries=$((tries + 1))
		measured "getmail6-$1" setpriv --reuid="$UID_" --regid="$GID_" --clear-groups env HOME="$B/home" USER=$U LOGNAME=$U PATH=/usr/bin:/bin \
			getmail --rcfile "$r/getmailrc" --getmaildir "$r/state" >> "$B/out/gm-$1.log" 2>&1 || true
		[ "$(distinct "$r/Maildir")" -ge "$N" ] || [ $tries -ge 80 ] && break
	done
	stalls=$(grep -c 'timed out' "$B/out/gm-$1.log" || true)
	SECS[getmail6-$1]=$(echo "$(now) - $t0 - $stalls * $GM_TIMEOUT" | bc)
	STALLS[getmail6-$1]=$stalls
	# Distinct messages: a getmail run that stopped fetches again what it
	# delivered unless its state is written per message (set above).
	GOT[getmail6-$1]=$(count "$r/Maildir")
	DIST[getmail6-$1]=$(distinct "$r/Maildir")
	TRIES[getmail6-$1]=$tries
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for proto in imap pop3; do
	for tool in $TOOLS; do
		reset_mailbox
		"run_$tool" $proto
		k=$tool-$proto; [ $tool = getmail ] && k=getmail6-$proto
		echo "$tool $proto: ${SECS[$k]} s" >&2
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo "fetch benchmark: $N messages of 4 KiB, IMAPS and POP3S from Dovecot on loopback, into a Maildir (/var/tmp), $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "load average before: $LOAD0, after: $LOAD1 ($(nproc) cores); cgroup $CGVER"
	printf '%-10s %-5s %9s %9s %9s %9s %12s %11s %12s %10s\n' tool proto delivered distinct seconds msgs/s ebb/tool "CPU ms/msg" "CPU ebb/tool" "memory MiB"
	for proto in imap pop3; do
		er=$(echo "$N / ${SECS[ebb-$proto]}" | bc -l)
		ec=$(echo "${CPU[ebb-$proto]} / $N" | bc -l)
		for tool in ${TOOLS/getmail/getmail6}; do
			s=${SECS[$tool-$proto]} got=${GOT[$tool-$proto]} dist=${DIST[$tool-$proto]}
			rate=$(echo "$dist / $s" | bc -l)
			cpu=$(echo "${CPU[$tool-$proto]} / $dist" | bc -l)
			printf '%-10s %-5s %9d %9d %9.2f %9.0f %11.2fx %11.3f %11.2fx %10.1f\n' $tool $proto "$got" "$dist" "$s" "$rate" "$(echo "$er / $rate" | bc -l)" \
				"$cpu" "$(echo "$ec / $cpu" | bc -l)" "$(echo "${MEM[$tool-$proto]:-0} / 1024" | bc -l)"
		done
	done
	echo "CPU ms/msg: each tool's own CPU time per distinct message delivered, from its cgroup: the tool and every process it starts (fetchmail's maildrop per message), user + system; Dovecot is outside. memory: the cgroup's peak without the page cache (anonymous + kernel memory, sampled every 20 ms)"
	[[ " $TOOLS " != *" getmail "* ]] || echo "getmail6 stalled on its SIGCHLD race (each stall's ${GM_TIMEOUT} s taken off its time; restarted each time): imap ${STALLS[getmail6-imap]} stalls in ${TRIES[getmail6-imap]} runs, pop3 ${STALLS[getmail6-pop3]} in ${TRIES[getmail6-pop3]}; its rate is of the distinct messages it delivered"
	echo "fetchmail delivers through maildrop (an MDA per message); getmail6 writes the Maildir itself; ebb queues each message (fsync) and delivers it from the queue (fsync)."
} | tee "${OUT:-bench/fetch/results}/$(date -u +%Y%m%d-%H%M).txt"
