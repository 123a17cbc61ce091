#!/bin/bash
# What password logins cost, ebb and Dovecot side by side: 1,000 logins,
# 100 at once, one in four with the right password, against one account
# whose hash is argon2id with ebb's defaults (64 MiB, 3 passes) — the same
# hash string for both; then 60 wrong passwords at once. Prints logins/s,
# latency p50/p99, the replies, the peak resident memory of each server's
# process tree (sampled every 20 ms) and ebb's VmHWM, with the settings,
# and the ratios. ebb: submission AUTH PLAIN over implicit TLS, the brute-force
# delays turned off (so that the hashing cost is what is measured) and each
# attempt from its own loopback address. Dovecot: IMAP LOGIN in the clear,
# auth_failure_delay = 0.
# Results: bench/auth/results/. The machine is shared (2 cores): quote the
# load printed with them.
# Run as root from anywhere: bench/auth/run.sh [auth_memory, default 256M]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"
MEM=${1:-256M}
command -v dovecot >/dev/null || { echo "bench: Dovecot missing: apt-get install dovecot-core dovecot-imapd" >&2; exit 1; }

T=$(mktemp -d /var/tmp/ebb-bench-auth.XXXXXX)
chmod 755 "$T"
EBB_PID=""
cleanup() {
	[ -n "$EBB_PID" ] && kill "$EBB_PID" 2>/dev/null && wait "$EBB_PID" 2>/dev/null || true
	[ -f "$T/dovecot/dovecot.conf" ] && dovecot -c "$T/dovecot/dovecot.conf" stop 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "bench: nothing on port $1" >&2; exit 1; }

go build -o "$T/ebb" ./cmd/ebb
go build -o "$T/driver" ./bench/auth
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
SMTP=$(port); SUB=$(port)
cat > "$T/ebb.toml" <<EOF
[server]
hostname = "mx.example.test"
user = "root"
data_dir = "$T/data"
[mail]
root = "$T/mail"
[directory]
auth_memory = "$MEM"
[queue]
spool = "$T/spool"
[smtp]
listen = ["127.0.0.1:$SMTP"]
max_connections = 1000
max_connections_per_ip = 1000
[submission]
listen_tls = ["127.0.0.1:$SUB"]
tls_cert = "$T/cert.pem"
tls_key = "$T/key.pem"
auth_failures_before_delay = 1000000
auth_max_failures_per_ip = 1000000
auth_max_failures_per_account = 1000000
auth_max_failures_per_account_day = 0
[sendmail]
pickup_dir = "$T/pickup"
[metrics]
listen = ""
EOF
mkdir -p "$T/data" "$T/mail" "$T/spool"
PASS="bench secret"
"$T/ebb" domain add -c "$T/ebb.toml" example.test >/dev/null
echo "$PASS" | "$T/ebb" user add -c "$T/ebb.toml" bench@example.test >/dev/null
HASH=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select password from mailboxes').fetchone()[0])" "$T/data/directory.db")

start_ebb() {
	"$T/ebb" serve -c "$T/ebb.toml" >>"$T/ebb.log" 2>&1 &
	EBB_PID=$!
	wait_port "$SUB"
}
stop_ebb() { kill "$EBB_PID"; wait "$EBB_PID" 2>/dev/null || true; EBB_PID=""; }
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }

# Dovecot with the same hash (recipe: shared/notes/services.md section 4).
D=$T/dovecot; mkdir -p "$D/run" "$D/state" "$D/mail"; chown nobody:nogroup "$D/mail"
IMAP=$(port)
echo "bench@example.test:$HASH:$(id -u nobody):$(id -g nobody)::$D/mail::" > "$D/users"
cat > "$D/dovecot.conf" <<EOF
instance_name = ebb-bench-auth
base_dir = $D/run
state_dir = $D/state
log_path = $D/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:$D/mail/Maildir
passdb {
  driver = passwd-file
  args = username_format=%u $D/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $D/users
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP
  }
  process_limit = 200
}
service imap {
  process_limit = 200
}
EOF
dovecot -c "$D/dovecot.conf"
wait_port "$IMAP"
DPID=$(cat "$D/run/master.pid")

echo "== password logins: ebb $(git describe --always --dirty 2>/dev/null) vs $(dovecot --version | cut -d' ' -f1-2); hash ${HASH:0:42}…"
echo "   ebb: directory.auth_memory = $MEM, auth_concurrency = 4 (defaults otherwise: auth_wait 10s); $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
run() { # label n p right-every
	local label=$1; shift
	start_ebb
	local e; e=$("$T/driver" -proto smtp -addr "127.0.0.1:$SUB" -pid "$EBB_PID" -user bench@example.test -pass "$PASS" -label "ebb $label" "$@")
	echo "$e (VmHWM $(hwm "$EBB_PID") MiB; budget 100 MiB + $MEM)"
	stop_ebb
	local d; d=$("$T/driver" -proto imap -addr "127.0.0.1:$IMAP" -pid "$DPID" -user bench@example.test -pass "$PASS" -label "dovecot $label" "$@")
	echo "$d"
	python3 - "$e" "$d" <<'PY'
import re, sys
def f(s):
    rate = float(re.search(r'([\d.]+) verified/s', s).group(1))
    peak = int(re.search(r'peak (\d+) MiB', s).group(1))
    return rate, peak
(er, ep), (dr, dp) = f(sys.argv[1]), f(sys.argv[2])
print(f"   ratio ebb/dovecot: verified logins/s {er/dr:.2f}x, peak memory {ep/max(dp,1):.2f}x")
PY
}
run "1000 mixed, 100 at once" -n 1000 -p 100 -right-every 4
run "60 wrong at once" -n 60 -p 60 -right-every 0
echo "   replies: ebb 235 ok, 535 wrong, 454 no turn within directory.auth_wait; dovecot 1 OK, 2 NO; 0 connection failed or no answer within 120 s"
echo "   verified/s counts the answers that needed the hash (235, 535, OK, NO)"
