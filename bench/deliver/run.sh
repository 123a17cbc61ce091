#!/bin/bash
# bench/deliver/run.sh: ebb deliver vs maildrop vs dovecot-lda, side by side.
#
# One process per message, as an MTA's pipe transport runs an MDA: N (2000)
# messages of 4 KiB each into a Maildir on the same disk (/var/tmp), for each
# agent in turn, as the same unprivileged user. Prints msgs/s and the ratio
# ebb/peer. Then peak RSS (/usr/bin/time -v) for one 100 MiB message fed
# through a pipe. Run as root (it creates the user "ebbbench"):
#
#   sudo bench/deliver/run.sh            # N=2000
#   sudo N=500 bench/deliver/run.sh
#
# Targets (issue 2): ebb at least as fast as maildrop per message; ebb under
# 20 MiB peak RSS for the 100 MiB message.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
N=${N:-2000}
BIG_MIB=${BIG_MIB:-100}
U=ebbbench

if [ "$(id -u)" != 0 ]; then echo "run as root (it runs every agent as the user $U)" >&2; exit 1; fi
for p in maildrop dovecot-core time; do
	dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'install ok installed' ||
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $p >/dev/null
done

B=$(mktemp -d /var/tmp/ebb-bench.XXXXXX)
chmod 755 "$B"
trap 'rm -rf "$B"' EXIT
id $U >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir "$B/home" --shell /usr/sbin/nologin $U
usermod -d "$B/home" $U 2>/dev/null || true  # maildrop chdirs to the passwd home
UID_=$(id -u $U); GID_=$(id -g $U)
as_user() { setpriv --reuid="$UID_" --regid="$GID_" --clear-groups env HOME="$B/home" USER=$U LOGNAME=$U PATH=/usr/bin:/bin "$@"; }

go build -o "$B/bin/ebb" ./cmd/ebb
go build -o "$B/bin/ebb-deliver" ./cmd/ebb-deliver
go build -o "$B/bin/floor" ./bench/deliver/floor
mkdir -p "$B/home" "$B/ebb/mail" "$B/lda/run" "$B/msgs"
cat > "$B/ebb.toml" <<CONF
[server]
user = "$U"
data_dir = "$B/ebb/data"
[mail]
root = "$B/ebb/mail"
CONF
# maildrop: deliver everything to one Maildir (maildirmake from maildrop).
printf 'DEFAULT="%s/md/Maildir/"\nto "%s/md/Maildir/"\n' "$B" "$B" > "$B/home/.mailfilter"
chmod 600 "$B/home/.mailfilter"
mkdir -p "$B/md"
# dovecot-lda: a minimal config, delivering to the invoking user.
cat > "$B/lda/dovecot.conf" <<CONF
base_dir = $B/lda/run
log_path = $B/lda/lda.log
mail_location = maildir:$B/lda/Maildir
postmaster_address = postmaster@example.com
ssl = no
CONF
chown -R $U:$U "$B"
chown -R root:root "$B" "$B/bin"
mkdir -p "$B/ebbd" "$B/floor"
chown -R $U:$U "$B/home" "$B/ebb" "$B/ebbd" "$B/floor" "$B/lda" "$B/md"
as_user maildirmake.maildrop "$B/md/Maildir" 2>/dev/null || as_user mkdir -p "$B/md/Maildir/"{tmp,new,cur}
as_user mkdir -p "$B/ebb/Maildir" "$B/ebbd/Maildir" "$B/floor/Maildir/"{tmp,new,cur}

# The message: 4 KiB, a plain LF mail like an MTA hands over.
msg="$B/msgs/4k.eml"
{
	printf 'From: Bob <bob@example.net>\nTo: alice@example.com\nSubject: bench\nMessage-ID: <bench@example.net>\nDate: Thu, 01 Jan 2026 10:00:00 +0000\n\n'
	for i in $(seq 60); do printf '%s\n' 'The quick brown fox jumps over the lazy dog, again and again..'; done
} | head -c 4096 > "$msg"
chmod 644 "$msg"

declare -A CMD
CMD[ebb]="$B/bin/ebb deliver -c $B/ebb.toml --maildir $B/ebb/Maildir -f bob@example.net"
CMD[ebb-deliver]="$B/bin/ebb-deliver -c $B/ebb.toml --maildir $B/ebbd/Maildir -f bob@example.net"
CMD[floor]="$B/bin/floor $B/floor/Maildir"
CMD[maildrop]="maildrop -f bob@example.net"
CMD[dovecot-lda]="/usr/lib/dovecot/dovecot-lda -c $B/lda/dovecot.conf -f bob@example.net"
declare -A DIR=([ebb]="$B/ebb/Maildir" [ebb-deliver]="$B/ebbd/Maildir" [floor]="$B/floor/Maildir" [maildrop]="$B/md/Maildir" [dovecot-lda]="$B/lda/Maildir")
# ebb deliver (the whole binary), ebb-deliver (the MDA binary), the floor
# (the same syscalls and nothing else), and the peers.
ORDER=(ebb ebb-deliver floor maildrop dovecot-lda)

# Warm up each agent once (page cache, first-run setup), then clear.
for a in "${ORDER[@]}"; do
	as_user ${CMD[$a]} < "$msg" || { echo "$a failed its warm-up delivery" >&2; cat "$B/lda/lda.log" 2>/dev/null >&2; exit 1; }
	find "${DIR[$a]}/new" "${DIR[$a]}/cur" -type f -delete
done
sync

# Interleaved rounds: each agent delivers N/ROUNDS messages per round, in
# turn, so that a change in machine load hits all three alike.
ROUNDS=${ROUNDS:-10}
declare -A SECS RATE
for a in "${ORDER[@]}"; do SECS[$a]=0; done
per=$((N / ROUNDS))
for ((r = 0; r < ROUNDS; r++)); do
	for a in "${ORDER[@]}"; do
		t0=$(date +%s.%N)
		as_user bash -c 'for ((i=0; i<'"$per"'; i++)); do '"${CMD[$a]}"' < "'"$msg"'" || exit 1; done'
		t1=$(date +%s.%N)
		SECS[$a]=$(echo "${SECS[$a]} + $t1 - $t0" | bc -l)
	done
done
N=$((per * ROUNDS))
for a in "${ORDER[@]}"; do
	got=$(find "${DIR[$a]}/new" "${DIR[$a]}/cur" -type f | wc -l)
	if [ "$got" != "$N" ]; then echo "$a delivered $got of $N" >&2; exit 1; fi
	RATE[$a]=$(echo "$N / ${SECS[$a]}" | bc -l)
	find "${DIR[$a]}/new" "${DIR[$a]}/cur" -type f -delete
done

echo
echo "== $N messages of 4 KiB, one process per message ($ROUNDS interleaved rounds), load $(cut -d" " -f1-3 /proc/loadavg), Maildir on $(df --output=source "$B" | tail -1) ($(uname -r))"
printf '%-12s %8s %10s %10s %12s %16s\n' agent msgs seconds msgs/s "ebb/agent" "ebb-deliver/agent"
for a in "${ORDER[@]}"; do
	printf '%-12s %8d %10.2f %10.1f %11.2fx %15.2fx\n' "$a" "$N" "${SECS[$a]}" "${RATE[$a]}" "$(echo "${RATE[ebb]} / ${RATE[$a]}" | bc -l)" "$(echo "${RATE[ebb-deliver]} / ${RATE[$a]}" | bc -l)"
done

# Where ebb's time goes: the same process started without delivering
# (ebb help runs every package's init, then exits) against ebb deliver.
S=${STARTUP_N:-100}
t0=$(date +%s.%N); as_user bash -c 'for ((i=0; i<'"$S"'; i++)); do '"$B"'/bin/ebb help >/dev/null 2>&1; done'; t1=$(date +%s.%N)
t2=$(date +%s.%N); as_user bash -c 'for ((i=0; i<'"$S"'; i++)); do '"${CMD[ebb]}"' < "'"$msg"'" || exit 1; done'; t3=$(date +%s.%N)
find "${DIR[ebb]}/new" -type f -delete
start_ms=$(echo "($t1 - $t0) * 1000 / $S" | bc -l); total_ms=$(echo "($t3 - $t2) * 1000 / $S" | bc -l)
echo
echo "== ebb per process, $S runs each: start-up alone (ebb help) vs a whole delivery"
printf '%-28s %8.1f ms\n' "start-up (package init)" "$start_ms" "ebb deliver (4 KiB)" "$total_ms"
printf '%-28s %7.0f %%\n' "start-up share" "$(echo "100 * $start_ms / $total_ms" | bc -l)"

# Peak RSS for one big message through a pipe (maildrop spills it to /tmp).
big="$B/msgs/big.eml"
{ printf 'From: bob@example.net\nSubject: big\n\n'; head -c $((BIG_MIB * 1024 * 1024 * 3 / 4)) /dev/zero | base64 -w 76; } > "$big"
chmod 644 "$big"
echo
echo "== peak RSS, one $(($(stat -c %s "$big") / 1024 / 1024)) MiB message through a pipe (/usr/bin/time -v)"
printf '%-12s %14s %6s\n' agent "max RSS" exit
for a in ebb ebb-deliver maildrop dovecot-lda; do
	set +e
	cat "$big" | as_user /usr/bin/time -v ${CMD[$a]} 2> "$B/time.$a" >/dev/null
	rc=$?
	set -e
	kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$B/time.$a")
	printf '%-12s %10.1f MiB %6s\n' "$a" "$(echo "$kb / 1024" | bc -l)" "$rc"
done
ebbkb=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$B/time.ebb")
echo
ebbdkb=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$B/time.ebb-deliver")
# Issue 16's target: the MDA at least 1.5x maildrop per message, with
# ebb's stronger durability (file and directory fsync; maildrop fsyncs the
# file only). The floor row says what the disk and the Go runtime allow.
if [ "$(echo "${RATE[ebb-deliver]} >= 1.5 * ${RATE[maildrop]}" | bc -l)" = 1 ]; then echo "target met: ebb-deliver >= 1.5x maildrop msgs/s"; else echo "target MISSED: ebb-deliver < 1.5x maildrop msgs/s (floor/maildrop = $(printf %.2f "$(echo "${RATE[floor]} / ${RATE[maildrop]}" | bc -l)")x)"; fi
for a in ebb ebbd; do
	kb=$ebbkb; [ $a = ebbd ] && kb=$ebbdkb
	if [ "$kb" -lt $((20 * 1024)) ]; then echo "target met: $a peak RSS < 20 MiB"; else echo "target MISSED: $a peak RSS >= 20 MiB"; fi
done
