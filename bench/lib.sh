# bench/lib.sh: what the bench scripts share. A script sources it from the
# repository's root (". bench/lib.sh") after it has made its temporary
# directory; nothing here runs on its own.

# bench_user NAME: the unprivileged system user the systems under test run
# as, made on the first run.
bench_user() {
	id "$1" >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1"
}

# wait_port PORT: until something accepts connections on 127.0.0.1:PORT,
# 30 s at the most; says so and returns 1 when nothing ever does.
wait_port() {
	for _ in $(seq 600); do
		(exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
		sleep 0.05
	done
	echo "port $1 never opened" >&2
	return 1
}

# stop_pid FILE: ends the process whose pid FILE holds, waits until it is
# gone, and removes FILE.
stop_pid() {
	kill "$(cat "$1")" 2>/dev/null || true
	while kill -0 "$(cat "$1")" 2>/dev/null; do sleep 0.1; done
	rm -f "$1"
}

# ebb_conf_head DIR USER: how a bench's ebb.toml begins: [server]
# (bench.example.net, run as USER, data_dir DIR/data), [mail] (DIR/mail)
# and [queue] (DIR/spool). What the script appends is in [queue] until its
# first table header.
ebb_conf_head() {
	cat <<EOC
[server]
hostname = "bench.example.net"
user = "$2"
data_dir = "$1/data"
[mail]
root = "$1/mail"
[queue]
spool = "$1/spool"
EOC
}

# ebb_conf_smtp PORT [METRICS]: ebb's [smtp] on 127.0.0.1:PORT with room
# for every session a bench opens, warnings only in the log, and no metrics
# listener, or one on METRICS (an address) with Go's pprof for profiles.
ebb_conf_smtp() {
	cat <<EOC
[smtp]
listen = ["127.0.0.1:$1"]
max_connections = 500
max_connections_per_ip = 500
[log]
level = "warn"
[metrics]
listen = "${2:-}"
EOC
	[ -z "${2:-}" ] || echo "pprof = true"
}

# postfix_instance DIR PORT: a private Postfix instance in DIR (etc, queue,
# data; its log in DIR/maillog) whose smtpd listens on 127.0.0.1:PORT and
# relays for 127.0.0.0/8: main.cf's common part (the script appends what
# its bench needs: later lines win), and Debian's master.cf without chroot.
# Run postfix_check DIR after the script's own lines.
postfix_instance() {
	mkdir -p "$1/etc" "$1/queue" "$1/data"
	chown postfix "$1/data"
	cp /etc/postfix/postfix-files "$1/etc/" 2>/dev/null || true
	cat > "$1/etc/main.cf" <<EOC
compatibility_level = 3.6
queue_directory = $1/queue
data_directory = $1/data
meta_directory = $1/etc
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.example.net
mydomain = example.net
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
message_size_limit = 0
default_process_limit = 200
biff = no
append_dot_mydomain = no
smtputf8_enable = no
maillog_file = $1/maillog
EOC
	# master.cf: Debian's, without chroot, smtpd on our loopback port,
	# postlog for maillog_file.
	sed -e 's/^\(smtp *inet.*\)$/#\1/' /etc/postfix/master.cf |
		awk '/^[a-z]/ && NF>=8 && $5=="y" {$5="n"} {print}' > "$1/etc/master.cf"
	echo "127.0.0.1:$2 inet n - n - - smtpd" >> "$1/etc/master.cf"
}

# postfix_check DIR: sets the instance's permissions and checks it.
postfix_check() {
	postfix -c "$1/etc" set-permissions >/dev/null 2>&1 || true
	postfix -c "$1/etc" check
}
