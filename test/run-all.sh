#!/bin/bash
# The test command: installs what the tests need, then runs every unit and
# integration test. Run it as root on Debian 12 (CI does): the integration
# tests run ebb as an unprivileged user to test permission failures, and
# start Dovecot, PostgreSQL and Postfix's tools themselves on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

if [ "$(id -u)" != 0 ]; then
	echo "test/run-all.sh: run as root (sudo $0): the tests create an unprivileged user and run ebb as it" >&2
	exit 1
fi

# Install what is missing. Daemons must not start on install: the tests start
# their own instances from temporary configs.
mapfile -t pkgs < <(grep -v '^#' test/packages.txt | grep -v '^$')
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	if [ ! -x /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
	fi
	echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
	echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi

echo "== go mod tidy, gofmt, go vet"
# go.mod and go.sum are as go mod tidy leaves them (direct dependencies not
# marked indirect, no stale sums), and every file is gofmt'ed.
go mod tidy -diff || { echo "test/run-all.sh: go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "test/run-all.sh: not gofmt'ed: $unformatted" >&2; exit 1; fi
go vet ./...

bindir=$(mktemp -d /var/tmp/ebb-test-bin.XXXXXX)
chmod 755 "$bindir"
trap 'rm -rf "$bindir"' EXIT
go build -o "$bindir/ebb" ./cmd/ebb
go build -o "$bindir/ebb-deliver" ./cmd/ebb-deliver
export EBB_BIN="$bindir/ebb" EBB_DELIVER_BIN="$bindir/ebb-deliver"

echo "== go test (unit and integration)"
go test -count=1 -timeout 20m ./... 2>&1 | tee "$bindir/test.log"
status=${PIPESTATUS[0]}
exit "$status"
