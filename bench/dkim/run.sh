#!/bin/bash
# bench/dkim/run.sh: DKIM signing and verification per message, in process:
# ebb's msgauth (go-msgauth underneath) vs dkimpy, Ed25519 and RSA-2048, at
# 4 KiB and 1 MiB. ebb verifies its own signatures through the whole
# inbound check (SPF, DKIM, DMARC), dkimpy verifies the same signed files:
# so the peer also proves the signatures good. Medians of N runs each, the
# ratio peer/ebb (above 1: ebb is faster), and the load average. Then
# what the checks on port 25 cost ebb serve (servecost/, target under
# 10% of delivered msgs/s).
#
#   bench/dkim/run.sh          # N=200
#   N=50 bench/dkim/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
N=${N:-200}
/usr/bin/python3 -c 'import dkim' 2>/dev/null ||
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q python3-dkim >/dev/null
B=$(mktemp -d /var/tmp/ebb-bench-dkim.XXXXXX)
trap 'rm -rf "$B"' EXIT
go build -o "$B/dkim-bench" ./bench/dkim
go build -o "$B/bin-ebb" ./cmd/ebb
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/dkim-bench" "$B" "$N" | tee "$B/ebb.out"
/usr/bin/python3 bench/dkim/peer.py "$B" "$N" | tee "$B/peer.out"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-14s %12s %12s\n' message "sign ratio" "verify ratio"
join <(awk '{print $2, $4, $7}' "$B/ebb.out" | sort) <(awk '{print $2, $4, $7}' "$B/peer.out" | sort) |
	awk '{printf "%-14s %11.1fx %11.1fx\n", $1, $4/$2, $5/$3}'

# The checks' cost on the serve path: the same DKIM-signed 4 KiB message
# from a domain with SPF, a key and DMARC in a loopback test DNS, N_SERVE
# messages over 10 sessions, ebb serve with auth.check = false, then true.
echo
N_SERVE=${N_SERVE:-2000}
mkdir -p "$B/serve"
go run ./bench/dkim/servecost "$B/bin-ebb" "$B/serve" "$N_SERVE" 10
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
