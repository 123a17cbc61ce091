#!/bin/bash
# Builds the Debian package ebb_VERSION_ARCH.deb from this source tree with
# dpkg-deb (no debhelper needed; docs/install.md).
#
#   packaging/build-deb.sh [--version 0.1.1] [--out DIR] [--binary EBB] [--compress none|gzip|xz] [--lintian]
#
# VERSION defaults to packaging/VERSION; DIR to the current directory.
# --binary packages an ebb already built from this tree (the tests pass
# the one they built) instead of building it. --compress none|gzip|xz
# (default xz) is dpkg-deb's compressor; gzip is the fast one (level 1) the tests use.
# With --lintian the package is checked and the tags that remain are
# printed (packaging/lintian-overrides explains each).
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin"
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
version=$(tr -d ' \n' <"$here/VERSION")
out=$PWD
lint=no
binary=
compress=xz
while [ $# -gt 0 ]; do
	case "$1" in
	--version) version=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--binary) binary=$2; shift 2 ;;
	--compress) compress=$2; shift 2 ;;
	--lintian) lint=yes; shift ;;
	*) echo "usage: $0 [--version V] [--out DIR] [--binary EBB] [--compress none|gzip|xz] [--lintian]" >&2; exit 64 ;;
	esac
done
arch=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/var/tmp}/ebb-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
umask 022

# The program: one static binary; sendmail and mailq are ebb under those
# names (argv[0]), as Debian's MTAs provide them (policy 11.6).
install -d "$stage/usr/sbin" "$stage/usr/bin"
if [ -n "$binary" ]; then
	install -m 0755 "$binary" "$stage/usr/sbin/ebb"
	# Debian ships stripped binaries; a test build is not.
	strip --strip-unneeded "$stage/usr/sbin/ebb"
else
	# ebb --version names the package's version and the commit it came from.
	rev=$(git -C "$root" rev-parse HEAD 2>/dev/null || true)
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=$version -X main.commit=$rev" -o "$stage/usr/sbin/ebb" ./cmd/ebb)
fi
# ebb-deliver: the delivery agent alone, for MTAs that start one process
# per message (docs/deliver.md); always built from the tree.
(cd "$root" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$stage/usr/sbin/ebb-deliver" ./cmd/ebb-deliver)
ln -s ebb "$stage/usr/sbin/sendmail"
ln -s ../sbin/ebb "$stage/usr/bin/mailq"
ebb="$stage/usr/sbin/ebb"

# The conffile: the documented defaults, from the code itself, unchanged:
# one set of defaults (ebb config defaults, the package, the docs, doctor).
# mail.root is ebb's own /var/vmail there too (the postinst makes it).
install -d "$stage/etc/ebb"
{
	echo "# /etc/ebb/ebb.toml, installed by the ebb package (a conffile: your"
	echo "# changes are kept on upgrade). Every key at its built-in default,"
	echo "# as ebb config defaults prints it."
	echo
	"$ebb" config defaults
} >"$stage/etc/ebb/ebb.toml"
grep -q '^root = "/var/vmail"$' "$stage/etc/ebb/ebb.toml" || { echo "$0: mail.root = \"/var/vmail\" not found in ebb config defaults (the postinst creates that directory)" >&2; exit 1; }
"$ebb" config check -c "$stage/etc/ebb/ebb.toml" >/dev/null

install -d "$stage/lib/systemd/system"
install -m 0644 "$here/ebb.service" "$stage/lib/systemd/system/ebb.service"

# Documentation: the docs, the changelog, the copyright.
doc="$stage/usr/share/doc/ebb"
install -d "$doc"
install -m 0644 "$root/README.md" "$doc/README.md"
for f in "$root"/docs/*.md; do
	install -m 0644 "$f" "$doc/$(basename "$f")"
done
install -m 0644 "$here/debian/copyright" "$doc/copyright"
sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}")/" \
	"$here/debian/changelog.in" | gzip -9n >"$doc/changelog.gz"
install -d "$stage/usr/share/lintian/overrides"
# An override stands only for a binary that is static (a test build of ebb
# given with --binary is not: an unused override is a lintian warning).
while IFS= read -r line; do
	case $line in
	"ebb: statically-linked-binary ["*"]")
		f=${line#*[}; f=${f%]}
		file -L "$stage/$f" | grep -q 'statically linked' || continue ;;
	esac
	printf '%s\n' "$line"
done < "$here/lintian-overrides" > "$stage/usr/share/lintian/overrides/ebb"
chmod 0644 "$stage/usr/share/lintian/overrides/ebb"

# Manual pages, made from ebb's own usage text so they cannot drift.
man="$stage/usr/share/man/man8"
install -d "$man"
usage=$("$ebb" help 2>&1 | sed -n 's/^  \([a-z]*\) *\(.*\)$/.TP\n.B \1\n\2/p' | sed 's/\\/\\\\/g; s/^-/\\-/; s/ -/ \\-/g')
cat >"$man/ebb.8" <<EOF
.TH EBB 8 "" "ebb $version" "System Manager's Manual"
.SH NAME
ebb \- mail system for self-hosted domains: SMTP, queue, Maildir delivery, Sieve
.SH SYNOPSIS
.B ebb
.I command
.RI [ options ]
.SH DESCRIPTION
.B ebb
receives mail for the domains it hosts, queues it durably and delivers it
into Maildir++ with Sieve. Every failure says what, where, why, who and how
to fix it. Each command prints its own usage when run without arguments.
.SH COMMANDS
$usage
.SH FILES
.TP
.I /etc/ebb/ebb.toml
the configuration (\fBebb config defaults\fR prints every key)
.TP
.I /var/spool/ebb
the queue (queue.spool)
.TP
.I /var/lib/ebb
state and the SQLite directory (server.data_dir)
.TP
.I /var/vmail
the Maildirs (mail.root), owned by the mail user vmail
.SH SEE ALSO
.BR sendmail (8),
.BR mailq (8),
.BR systemctl (1),
/usr/share/doc/ebb/install.md, /usr/share/doc/ebb/dovecot.md
EOF
cat >"$man/sendmail.8" <<EOF
.TH SENDMAIL 8 "" "ebb $version" "System Manager's Manual"
.SH NAME
sendmail \- hand a message to ebb (sendmail compatible)
.SH SYNOPSIS
.B sendmail
.RB [ \-t ]
.RB [ \-i ]
.RB [ \-f
.IR sender ]
.RB [ \-F
.IR name ]
.RB [ \-bs | \-bp | \-q ]
.RI [ recipient ...]
.SH DESCRIPTION
.B /usr/sbin/sendmail
is
.BR ebb (8)
invoked as sendmail: it reads a message on standard input and hands it to
the running daemon, or leaves it in the pickup directory when the daemon is
down. Exit 0 means the message is on disk; 75 means try again.
.SH SEE ALSO
.BR ebb (8),
/usr/share/doc/ebb/sendmail.md
EOF
cat >"$man/mailq.8" <<EOF
.TH MAILQ 8 "" "ebb $version" "System Manager's Manual"
.SH NAME
mailq \- list ebb's queue with the reason for every deferral
.SH SYNOPSIS
.B mailq
.RB [ \-c
.IR file ]
.RB [ \-\-json ]
.SH DESCRIPTION
.B mailq
is
.BR ebb (8)
invoked as mailq, the same as \fBebb mailq\fR.
.SH SEE ALSO
.BR ebb (8),
/usr/share/doc/ebb/queue.md
EOF
cat >"$man/ebb-deliver.8" <<EOF
.TH EBB-DELIVER 8 "" "ebb $version" "System Manager's Manual"
.SH NAME
ebb-deliver \- deliver one message into a Maildir, as ebb deliver
.SH SYNOPSIS
.B ebb-deliver
.RB [ \-c
.IR file ]
.RB ( \-\-maildir
.IR dir " | " \-d
.IR address )
.RB [ \-f
.IR sender ]
.RB [ \-m
.IR folder ]
.SH DESCRIPTION
.B ebb-deliver
is \fBebb deliver\fR as a program of its own, for MTAs that start one
delivery agent per message: the same flags, exit codes (sysexits) and
one-line errors, with less to start.
.SH SEE ALSO
.BR ebb (8),
/usr/share/doc/ebb/deliver.md
EOF
gzip -9n "$man"/*.8

# Control files.
install -d "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/debian/control.in" >"$stage/DEBIAN/control"
install -m 0644 "$here/debian/conffiles" "$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$here/debian/$s" "$stage/DEBIAN/$s"
done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

deb="$out/ebb_${version}_${arch}.deb"
level=; [ "$compress" = gzip ] && level=-z1
dpkg-deb --root-owner-group -Z"$compress" $level --build "$stage" "$deb" >/dev/null
echo "$deb"
if [ "$lint" = yes ]; then
	lintian --info "$deb" || true
fi
