#!/bin/bash
# The test command: installs what the tests need, then runs every unit and
# integration test. Run it as root on Debian 12 (CI does): the integration
# tests run ebb as an unprivileged user to test permission failures, and
# start Dovecot, PostgreSQL and Postfix's tools themselves on 127.0.0.1.
#
#   sudo test/run-all.sh [--host-network] [--throwaway-root]
#
# The log shows each package's result and every failed test's output, then
# the slowest tests and packages and the time taken with the load average.
# EBB_TEST_PACKAGES=N runs N test packages at once (default 4);
# EBB_TEST_JSON=FILE keeps go test -json's events there.
#
# The tests are hermetic, and this command checks it:
# - They run in a network namespace with only loopback up (unshare -n), where
#   /etc/resolv.conf names a trap (test/resolvertrap) that refuses every
#   query and logs it: a test that asks the host's resolver instead of its
#   own DNS server (internal/dnstest) fails the run with the names it asked.
#   The install step and the module downloads come before, with the network.
#   --host-network (or EBB_TEST_HOST_NETWORK=1) runs them on the host's.
# - After them, nothing outside the temp dirs may have changed: every path
#   below /etc, /usr, /var, /opt, /srv, /home, /root, /boot and the source
#   tree whose inode changed while they ran is named, and the run fails.
# - When installing test/packages.txt would remove an installed package (an
#   installed ebb and Postfix are both the MTA), or with --throwaway-root (or
#   EBB_TEST_THROWAWAY_ROOT=1), everything runs in a throwaway copy of the
#   machine (test/throwaway-root.sh): apt installs there, the host keeps its
#   packages, and the check reads the copy's upper layers (exactly what the
#   run wrote, undisturbed by what the host does meanwhile).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

if [ "$(id -u)" != 0 ]; then
	echo "test/run-all.sh: run as root (sudo $0): the tests create an unprivileged user and run ebb as it" >&2
	exit 1
fi
netns=yes
[ "${EBB_TEST_HOST_NETWORK:-}" = 1 ] && netns=no
throwaway=${EBB_TEST_THROWAWAY_ROOT:-0}
for a in "$@"; do
	case "$a" in
	--host-network) netns=no ;;
	--throwaway-root) throwaway=1 ;;
	*) echo "usage: $0 [--host-network] [--throwaway-root]" >&2; exit 64 ;;
	esac
done
# Inside the throwaway root test/throwaway-root.sh made for this command,
# its upper layers are here.
upper=/run/ebb-test-upper
inside=no
[ "${EBB_TEST_IN_THROWAWAY_ROOT:-}" = 1 ] && [ -f "$upper/mounts" ] && inside=yes
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "== test/run-all.sh $* (load average $(loadavg))"

# Install what is missing. Daemons must not start on install: the tests start
# their own instances from temporary configs.
mapfile -t pkgs < <(grep -v '^#' test/packages.txt | grep -v '^$')
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "$inside" = no ] && [ "$throwaway" != 1 ]; then
	apt-get update -q
	removes=$(apt-get -s install --no-install-recommends "${missing[@]}" | sed -n 's/^Remv \([^ ]*\).*/\1/p' | tr '\n' ' ')
	if [ -n "$removes" ]; then
		echo "== installing ${missing[*]} would remove ${removes}from this machine: the run goes into a throwaway copy of it"
		throwaway=1
	fi
fi
if [ "$throwaway" = 1 ] && [ "$inside" = no ]; then
	EBB_TEST_IN_THROWAWAY_ROOT=1 exec test/throwaway-root.sh --upper-at "$upper" -- "$0" "$@"
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	if [ ! -x /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
	fi
	echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
	echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
	apt-get update -q
	# On the host nothing installed is ever removed (the check above moved
	# such a run into a throwaway root); in that root, apt may.
	noremove=--no-remove
	[ "$inside" = yes ] && noremove=
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $noremove "${missing[@]}"
fi

# Packages that cannot sit beside test/packages.txt (exim4 and Postfix are
# both the MTA): a test installs them only in a throwaway root of its own
# (harness.ThrowawayRoot), which has no network, from the .debs fetched
# here into apt's cache (apt-get install --no-download there).
mapfile -t apart < <(grep -v '^#' test/packages-throwaway.txt | grep -v '^$')
if [ ${#apart[@]} -gt 0 ]; then
	echo "== fetching for throwaway roots: ${apart[*]}"
	apt-get -o DPkg::Lock::Timeout=600 install --download-only -y -q --no-install-recommends "${apart[@]}" >/dev/null ||
		{ apt-get update -q && apt-get -o DPkg::Lock::Timeout=600 install --download-only -y -q --no-install-recommends "${apart[@]}" >/dev/null; }
fi

echo "== go mod download, tidy, gofmt"
go mod download
# go.mod and go.sum are as go mod tidy leaves them (direct dependencies not
# marked indirect, no stale sums), and every file is gofmt'ed.
go mod tidy -diff || { echo "test/run-all.sh: go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "test/run-all.sh: not gofmt'ed: $unformatted" >&2; exit 1; fi

bindir=$(mktemp -d /var/tmp/ebb-test-bin.XXXXXX)
chmod 755 "$bindir"
trap 'rm -rf "$bindir"' EXIT
go build -o "$bindir/ebb" ./cmd/ebb
go build -o "$bindir/ebb-deliver" ./cmd/ebb-deliver
go build -o "$bindir/resolvertrap" ./test/resolvertrap
go build -o "$bindir/testreport" ./test/testreport
# The accounts the tests run programs as exist before the check's stamp:
# made during the tests, /etc/passwd would change.
go run ./test/harness/mkusers
export EBB_BIN="$bindir/ebb" EBB_DELIVER_BIN="$bindir/ebb-deliver"

# go vet and staticcheck at a pinned version (go run fetches it once into
# the module cache; go.mod stays ebb's own) run beside the tests: they want
# a CPU, the tests mostly wait on daemons. A finding fails the run after the
# tests, so it hides none of their results. A finding is fixed at its
# cause; a //lint:ignore says why the rule does not apply.
staticcheck=honnef.co/go/tools/cmd/staticcheck@v0.8.2
go run "$staticcheck" -version >/dev/null # fetched now, with the network
# Its cache (ignored by the check below) exists before the check's stamp,
# and in a throwaway root it and its parents are in the upper layer before
# the first listing (touch copies them up): else they would show up in it
# as new while the tests ran.
staticcheck_cache=${XDG_CACHE_HOME:-$HOME/.cache}/staticcheck
mkdir -p "$staticcheck_cache" && touch "$staticcheck_cache"
(go vet ./... && go run "$staticcheck" ./...) >"$bindir/lint.log" 2>&1 &
lint_pid=$!

# What the tests must leave as they found it: everything but the temp dirs,
# Go's caches (any build writes them), and what the machine changes on its
# own schedule while they run (logs, caches, apt's lists, systemd's timers).
watched=(/etc /usr /var /opt /srv /home /root /boot "$PWD")
ignored=(/tmp /var/tmp "${TMPDIR:-/tmp}" "$PWD/.git" "$(go env GOCACHE)" "$(go env GOMODCACHE)"
	"$(dirname "$(go env GOENV)")/telemetry" "$staticcheck_cache" /var/log /var/cache /var/backups /var/lib/apt/lists
	/var/lib/apt/periodic /var/lib/systemd/timers /var/lib/dhcp)
changed_since() { # stamp: every watched path whose inode changed after it
	local prune=() p
	for p in "${ignored[@]}"; do prune+=(-path "$p" -prune -o); done
	find "${watched[@]}" "${prune[@]}" -cnewer "$1" -printf '%p\t%M %u:%g\n' 2>/dev/null || true
}
# In the throwaway root, what its upper layers hold (path, type and mode,
# owner, size, mtime; a removed file is a whiteout there, c--------- 0:0),
# watched and not ignored. Two listings are compared, not ctimes: overlayfs
# links every whiteout to one inode, whose ctime each new one changes.
list_upper() {
	local n mp
	while read -r n mp; do
		find "$upper/$n/upper" -mindepth 1 -printf "${mp%/}/%P\t%M %u:%g %s %T@\n"
	done <"$upper/mounts" | awk -F'\t' -v ign="$(printf '%s\n' "${ignored[@]}")" -v wat="$(printf '%s\n' "${watched[@]}")" '
		function under(p, list,   n, a, i) {
			n = split(list, a, "\n")
			for (i = 1; i <= n; i++) if (a[i] != "" && (p == a[i] || index(p, a[i] "/") == 1)) return 1
			return 0
		}
		under($1, wat) && !under($1, ign)' | LC_ALL=C sort
}
stamp=$bindir/tests-began
dpkg-query -W -f='${Package} ${Version} ${Status}\n' >"$bindir/packages-before"
touch "$stamp"
[ "$inside" = yes ] && list_upper >"$bindir/upper-before"

echo "== go test (unit and integration)$([ "$netns" = yes ] && echo ", in a network namespace with only loopback")"
began=$SECONDS
# The integration packages under test/ spend their time waiting on daemons
# and the clock, not on a CPU: more of them at once than the CPUs (go test's
# default -p) keeps the machine busy. The log shows each package's result,
# every failed test's output, then the slowest tests and packages.
parallel=${EBB_TEST_PACKAGES:-4}
# go test starts packages in the order given: the integration packages
# first, the slowest of them first (they wait minutes on daemons), so that
# compiling and running the unit tests fills the CPUs meanwhile.
module=$(go list -m)
first=()
for p in packaging smtp cluster fetch deliver msgauth doctor relay directory; do first+=("$module/test/$p/..."); done
packages=$(go list "${first[@]}" ./test/... ./... 2>/dev/null | tr '\n' ' ')
run_tests() {
	go test -count=1 -timeout 20m -p "$parallel" -json $packages 2>&1 | tee "$bindir/test.json" | "$bindir/testreport" | tee "$bindir/test.log"
	local st=${PIPESTATUS[0]}
	# EBB_TEST_JSON=FILE keeps go test's events (each with its time).
	[ -z "${EBB_TEST_JSON:-}" ] || cp "$bindir/test.json" "$EBB_TEST_JSON"
	return "$st"
}
status=0
if [ "$netns" = yes ]; then
	# Loopback only, and the host's resolver replaced by the trap: its own
	# mount namespace holds the resolv.conf naming it. GOPROXY=off: the
	# modules were downloaded above.
	export -f run_tests
	export bindir parallel packages
	GOPROXY=off unshare --net --mount --propagation private -- bash -c '
		set -euo pipefail
		ip link set lo up
		printf "nameserver 127.0.0.53\noptions timeout:1 attempts:1\n" >"$bindir/resolv.conf"
		mount --bind "$bindir/resolv.conf" /etc/resolv.conf
		mkfifo "$bindir/resolvertrap.ready"
		"$bindir/resolvertrap" -listen 127.0.0.53:53 -log "$bindir/resolver.log" >"$bindir/resolvertrap.ready" &
		trap_pid=$!
		read -r ready <"$bindir/resolvertrap.ready"
		echo "$ready"
		status=0
		run_tests || status=$?
		kill "$trap_pid"
		exit "$status"
	' || status=$?
else
	run_tests || status=$?
fi
echo "== the tests took $((SECONDS - began)) s (load average $(loadavg))"
if wait "$lint_pid"; then
	echo "== go vet, $staticcheck: clean"
else
	echo "test/run-all.sh: go vet or $staticcheck found:" >&2
	cat "$bindir/lint.log" >&2
	status=1
fi

# The checks: nothing asked of the host's resolver, nothing changed outside
# the temp dirs.
if [ -s "$bindir/resolver.log" ]; then
	echo "test/run-all.sh: the tests asked the host's resolver (/etc/resolv.conf), not a test DNS server (internal/dnstest) or a config that needs none:" >&2
	sed 's/^[^ ]* //; s/ asked by pid [0-9]*: / asked by /' "$bindir/resolver.log" | sort | uniq -c | head -50 >&2
	status=1
fi
checked=$SECONDS
if [ "$inside" = yes ]; then
	list_upper >"$bindir/upper-after"
	changed=$(awk -F'\t' 'NR == FNR { was[$1] = $2; next }
		{ now[$1] = 1 } !($1 in was) { print $1 "\tnew: " $2 } ($1 in was) && was[$1] != $2 { print $1 "\twas " was[$1] ", now " $2 }
		END { for (p in was) if (!(p in now)) print p "\tgone" }' "$bindir/upper-before" "$bindir/upper-after" | LC_ALL=C sort)
else
	changed=$(changed_since "$stamp" | LC_ALL=C sort -u)
fi
echo "== checked what changed outside the temp dirs in $((SECONDS - checked)) s"
if [ -n "$changed" ]; then
	echo "test/run-all.sh: the tests changed files outside their temp dirs (path, then what it is now):" >&2
	head -100 <<<"$changed" | sed 's/^/  /' >&2
	[ "$(wc -l <<<"$changed")" -gt 100 ] && echo "  … $(wc -l <<<"$changed") paths in all" >&2
	dpkg-query -W -f='${Package} ${Version} ${Status}\n' | diff "$bindir/packages-before" - | sed -n 's/^\([<>]\)/  packages \1/p' >&2 || true
	if [ "$inside" = no ]; then
		echo "  (on a machine where other things run, some may be theirs: $0 --throwaway-root tells them apart)" >&2
	fi
	status=1
fi
echo "== done in ${SECONDS} s, exit $status (load average $(loadavg))"
exit "$status"
