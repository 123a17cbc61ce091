#!/bin/bash
# Runs a command as root in a throwaway copy of this machine, so that what it
# installs or writes outside the temp dirs — dpkg's database, /etc/passwd,
# /var/lib — leaves the host as it was:
#
#   test/throwaway-root.sh [--net loopback] [--upper-at PATH] -- COMMAND [ARG...]
#
# The command runs in a private mount namespace whose root is an overlay of
# every filesystem that holds system files (/, and /usr, /var, /home … where
# they are filesystems of their own). Its writes there land in upper layers on
# a tmpfs that disappears with the namespace. /tmp and Go's caches are the
# host's, bound in: what the command leaves there is what it would leave
# without this script. /proc, /sys and /dev are the
# host's; /run is a fresh tmpfs, so no host daemon (systemd) is reachable
# through its sockets. The working directory is kept.
#
# --net loopback: a network namespace of its own too, with only lo up: no
#   route out, no host resolver, and no host listener in the way of a port.
# --upper-at PATH: the upper layers (everything the command wrote outside the
#   bound paths) are bound read-only at PATH (below /run) inside the root, for
#   a check of what it wrote: PATH/N/upper holds what was written below the
#   mount point on line N of PATH/mounts ("N /mount/point").
#
# The kernel stacks overlays at most two deep: inside one throwaway root one
# more can be made (the package test does, inside test/run-all.sh's).
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

net=
upper_at=
while [ $# -gt 0 ]; do
	case "$1" in
	--net) net=$2; shift 2 ;;
	--upper-at) upper_at=$2; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
if [ $# -eq 0 ] || [[ ! "$net" =~ ^(|none|loopback)$ ]] || [[ ! "$upper_at" =~ ^(|none|/run/.+)$ ]]; then
	echo "usage: $0 [--net loopback] [--upper-at /run/PATH] -- COMMAND [ARG...]" >&2
	exit 64
fi
if [ "$(id -u)" != 0 ]; then
	echo "$0: run as root: it makes mount namespaces and overlays" >&2
	exit 77
fi

# The host paths bound into the root as they are: the temp dirs and Go's
# caches (written by any build; never part of what a test must leave alone).
# /var/tmp only where it is a filesystem of its own: elsewhere a mount there
# would be one the host does not have (a test that overlays /var would hide
# it), so it stays in the copy, written to its upper layer.
binds=(/tmp)
if mountpoint -q /var/tmp; then
	binds+=(/var/tmp)
fi
if command -v go >/dev/null; then
	binds+=("$(go env GOCACHE)" "$(go env GOMODCACHE)")
fi

# Inside the new namespaces: this same script, with the internal first
# argument, builds the root and runs the command.
if [ "${1:-}" != --inside-namespace ]; then
	unshare_args=(--mount --propagation private)
	[ "$net" = loopback ] && unshare_args+=(--net)
	exec unshare "${unshare_args[@]}" -- "$0" --net "${net:-none}" --upper-at "${upper_at:-none}" -- --inside-namespace "$PWD" "${binds[@]}" -- "$@"
fi
shift
cwd=$1
shift
binds=()
while [ "$1" != -- ]; do binds+=("$1"); shift; done
shift

if [ "$net" = loopback ]; then
	ip link set lo up
fi

# The layers live on a tmpfs mounted over this namespace's /run (the root
# gets another): nothing to clean up, nothing made on the host, and it works
# inside another throwaway root (an overlay cannot be an overlay's upper layer).
layers=/run
mount -t tmpfs -o mode=0700 ebb-throwaway-layers "$layers"
root=$layers/root
mkdir "$root" "$layers/layers"
n=0
overlay() { # mountpoint-on-host
	n=$((n + 1))
	mkdir -p "$layers/layers/$n/upper" "$layers/layers/$n/work"
	mount -t overlay -o "lowerdir=$1,upperdir=$layers/layers/$n/upper,workdir=$layers/layers/$n/work" "ebb-throwaway-$n" "$root$1"
	echo "$n $1" >>"$layers/layers/mounts"
}
overlay /
under() { # path prefix: is path prefix or below it?
	[ "$1" = "$2" ] || [[ "$1" == "$2"/* ]]
}

# Every other mount, parents before children (findmnt's order): the kernel's
# and the temp dirs are bound, /run is new, the rest is overlaid.
done_trees=()
while read -r target fstype; do
	[ "$target" = / ] && continue
	skip=
	for d in "${done_trees[@]}" "$layers"; do
		if under "$target" "$d"; then skip=1; break; fi
	done
	[ -n "$skip" ] && continue
	if [ -f "$target" ] && [ -f "$root$target" ]; then
		# A file mounted on its own (a container's /etc/resolv.conf, the
		# test command's resolver trap): as the host sees it.
		mount --bind "$target" "$root$target"
		continue
	fi
	[ -d "$root$target" ] || continue
	case "$target" in
	/proc | /sys | /dev)
		mount --rbind "$target" "$root$target"
		done_trees+=("$target")
		;;
	/run)
		done_trees+=("$target")
		;;
	*)
		bound=
		for b in "${binds[@]}"; do
			if under "$target" "$b"; then bound=1; fi
		done
		if [ -z "$bound" ]; then
			overlay "$target"
		fi
		;;
	esac
done < <(findmnt -rn -o TARGET,FSTYPE)

# A fresh /run, with the directories Debian expects in it.
mount -t tmpfs -o mode=0755 ebb-throwaway-run "$root/run"
mkdir -p "$root/run/lock"
chmod 1777 "$root/run/lock"
for b in "${binds[@]}"; do
	[ -d "$b" ] || continue
	mkdir -p "$root$b"
	mount --rbind "$b" "$root$b"
done
if [ "$upper_at" != none ]; then
	mkdir -p "$root$upper_at"
	mount --bind -o ro "$layers/layers" "$root$upper_at"
fi

# The overlay becomes the namespace's root (pivot_root, not chroot: a
# process that enters the namespace, nsenter -m, lands in the copy too, not
# in the host's tree beneath it), and the host's root is let go.
cd "$root"
pivot_root . .
umount -l .
exec /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$cwd" "$@"
