package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/metrics"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// runServe is `ebb serve`: the daemon. It wires config → logging → sockets
// (bound as root) → privileges dropped to server.user → queue (which takes
// the spool lock) → directory → local delivery → SMTP listeners → metrics,
// and runs until SIGTERM/SIGINT. SIGHUP reloads the config and the
// certificates.
func runServe(e *env) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("c", "", "config file (default "+config.DefaultPath+")")
	demo := fs.Bool("demo", false, "run the demo: data under ./ebb-demo, SMTP on 127.0.0.1:2525, domain example.test, user demo@example.test")
	demoDir := fs.String("demo-dir", "ebb-demo", "where --demo keeps its config and data")
	demoListen := fs.String("demo-listen", "", "with --demo: the SMTP address instead of the config's (127.0.0.1:2525), when that port is taken")
	if err := fs.Parse(e.args); err != nil {
		return diag.ExUsage
	}
	if *demo {
		p, err := writeDemoConfig(*demoDir)
		if err != nil {
			fmt.Fprintln(e.stderr, diag.From(err, "ebb serve", "demo").Sentence())
			return diag.ExCantCreat
		}
		*path = p
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return diag.ExConfig
	}
	if *demo && *demoListen != "" {
		cfg.SMTP.Listen = []string{*demoListen}
	}
	lg, err := logging.New(e.stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintln(e.stderr, "ebb serve:", err)
		return diag.ExConfig
	}
	d := &daemon{e: e, cfgPath: *path, cfg: cfg, log: lg, demo: *demo}
	code := d.run()
	if code != 0 {
		lg.Error("ebb serve stopped", "exit", code)
	}
	return code
}

type daemon struct {
	e       *env
	cfgPath string
	cfg     *config.Config
	log     *logging.Logger
	demo    bool

	certs   *smtpd.Certificates
	smtpLn  []net.Listener
	metrLn  net.Listener
	q       *queue.Queue
	dir     *directory.Directory
	smtp    *smtpd.Server
	metrics *metrics.Metrics
	sub     *submission // issue 5: submission listeners and the sendmail pickup (serve_submission.go)
}

// fail prints a boundary error on stderr and logs it; it returns the exit
// code.
func (d *daemon) fail(err error, op string) int {
	de := diag.From(err, "ebb serve", op)
	fmt.Fprintln(d.e.stderr, de.Sentence())
	d.log.Error("cannot start", "diag", de)
	return de.ExitCode()
}

func (d *daemon) run() int {
	cfg := d.cfg
	if cfg.SMTP.TLSCert != "" {
		c, err := smtpd.LoadCertificates(cfg.SMTP.TLSCert, cfg.SMTP.TLSKey)
		if err != nil {
			de := diag.New("load", "load the TLS certificate", cfg.SMTP.TLSCert, err)
			de.Setting, de.Exit = cfg.Setting("smtp.tls_cert"), diag.ExConfig
			de.Hint = "check smtp.tls_cert and smtp.tls_key (PEM, readable by the user ebb starts as); ebb doctor checks them"
			return d.fail(de, "load")
		}
		d.certs = c
	}
	if code := d.bind(); code != 0 {
		return code
	}
	defer d.closeSockets()
	if code := d.bindSubmission(); code != 0 {
		return code
	}
	defer d.closeSubmission()

	who, err := d.dropPrivileges()
	if err != nil {
		return d.fail(err, "setuid")
	}

	ctx := context.Background()
	q, err := queue.Open(cfg, d.log.With("component", "queue"))
	if err != nil {
		return d.fail(err, "open")
	}
	d.q = q
	defer q.Close()

	dir, err := directory.OpenWith(ctx, cfg, directory.Options{Logger: d.log.With("component", "directory")})
	if err != nil {
		return d.fail(err, "open")
	}
	d.dir = dir
	defer dir.Close()
	if d.demo {
		if err := demoDirectory(ctx, dir); err != nil {
			return d.fail(err, "demo")
		}
	}

	d.metrics = metrics.New()
	d.metrics.Queue(q.Stats)

	srv, err := smtpd.New(smtpd.Config{
		Options:   smtpOptions(cfg),
		Listeners: append(d.inboundListeners(), d.submissionListeners()...),
		Spool:     spoolAdapter{q},
		TLS:       d.certs,
		Logger:    d.log.Logger,
		Metrics:   d.metrics,
	})
	if err != nil {
		return d.fail(err, "start")
	}
	d.smtp = srv
	if err := srv.Bind(); err != nil {
		return d.fail(err, "listen")
	}

	// One Agent per attempt, so that its log lines carry the queue id;
	// they share the Maildir file namer and the Sieve filter.
	agent := &deliver.Agent{Cfg: cfg, Resolver: dir, Component: "ebb serve", Namer: maildir.NewNamer(cfg.Server.Hostname)}
	agent.Filter = daemonSieveFilter(cfg, d.log.Logger, q) // Sieve (cmd/ebb/sieve.go)
	deliverLog := d.log.With("component", "deliver")
	transports := queue.Transports{
		Route: func(ctx context.Context, rcpt string) (queue.Route, error) {
			_, domain, ok := smtpd.SplitAddress(rcpt)
			if !ok {
				return queue.Local, nil
			}
			local, err := dir.IsLocalDomain(ctx, domain)
			if err != nil {
				return queue.Local, err
			}
			if local {
				return queue.Local, nil
			}
			return queue.Remote, nil
		},
		Local: queue.TransportFunc(func(ctx context.Context, m *queue.Message, r *queue.Recipient) error {
			a := &deliver.Agent{Cfg: agent.Cfg, Resolver: agent.Resolver, Filter: agent.Filter, Component: agent.Component,
				Namer: agent.Namer, Log: deliverLog.With("queue_id", m.ID)}
			rep, err := a.DeliverFile(ctx, m.DataPath, deliver.Envelope{
				Sender: m.From(), Recipient: r.Address, Prefix: []byte(m.Prefix()), Done: r.Done,
			})
			if rep != nil {
				// Mailboxes of an alias that got the message are not
				// delivered again when the others are retried.
				r.Done = append(r.Done, rep.Delivered()...)
			}
			if err != nil {
				return err
			}
			if rep != nil && len(rep.Forwards) > 0 {
				return d.forward(ctx, m, r, rep.Forwards)
			}
			return nil
		}),
		Remote: queue.NoRemote,
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	queueDone := make(chan error, 1)
	go func() { queueDone <- q.Run(runCtx, transports) }()
	smtpDone := make(chan error, 1)
	go func() { smtpDone <- srv.Serve() }()
	d.startPickup(runCtx)
	metricsDone := make(chan error, 1)
	if d.metrLn != nil {
		go func() { metricsDone <- d.metrics.Serve(runCtx, d.metrLn) }()
	}

	d.log.Info("ebb serve started", "pid", os.Getpid(), "user", who.User, "uid", who.UID,
		"config", cfg.File, "spool", q.Spool(), "directory", dir.Where(),
		"smtp", addrList(srv.Addrs()), "metrics", addrOf(d.metrLn))
	if d.demo {
		d.demoBanner(srv.Addrs())
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	code := 0
loop:
	for {
		select {
		case <-d.e.ctx.Done():
			d.log.Info("stopping: no new connections; waiting for messages being received",
				"bound", cfg.SMTP.ShutdownTimeout.Duration.String())
			break loop
		case <-hup:
			d.reload()
		case err := <-smtpDone:
			if err != nil {
				d.log.Error("smtp failed", "err", err)
				code = diag.ExSoftware
			}
			break loop
		case err := <-queueDone:
			d.log.Error("queue runner stopped", "err", err)
			queueDone <- err
			code = diag.ExSoftware
			break loop
		case err := <-metricsDone:
			if err != nil {
				d.log.Error("metrics endpoint failed", "err", err)
			}
		}
	}

	// SIGTERM: stop accepting, let DATA in progress finish (bounded), then
	// stop the queue runner (it lets attempts in flight finish within
	// queue.stop_timeout), then release the spool.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.SMTP.ShutdownTimeout.Duration)
	if err := srv.Shutdown(sctx); err != nil {
		d.log.Warn("smtp shutdown", "err", err)
	}
	cancel()
	stopRun()
	if err := <-queueDone; err != nil && !errors.Is(err, context.Canceled) {
		d.log.Warn("queue runner", "err", err)
	}
	d.log.Info("ebb serve stopped")
	return code
}

// forward queues a copy of m for the remote addresses an alias of r leads
// to (they wait for an outbound transport, visible in mailq). An error
// retries r's whole attempt.
func (d *daemon) forward(ctx context.Context, m *queue.Message, r *queue.Recipient, to []string) error {
	f, err := os.Open(m.DataPath)
	if err != nil {
		return diag.PathError("ebb serve", "open", "open the message to forward", m.DataPath, err, d.cfg.Setting("queue.spool"))
	}
	defer f.Close()
	env := m.Envelope
	env.Recipients = to
	id, err := d.q.Receive(ctx, &env, f)
	if err != nil {
		return err
	}
	d.log.Info("forwarded to remote addresses", "queue_id", m.ID, "rcpt", r.Address,
		"forward_queue_id", id, "forwards", strings.Join(to, ","))
	return nil
}

// bind opens the SMTP and metrics sockets while we may still be root.
func (d *daemon) bind() int {
	cfg := d.cfg
	for _, a := range cfg.SMTP.Listen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return d.bindFailed(a, "smtp.listen", err)
		}
		d.smtpLn = append(d.smtpLn, l)
	}
	if cfg.Metrics.Listen != "" {
		l, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return d.bindFailed(cfg.Metrics.Listen, "metrics.listen", err)
		}
		d.metrLn = l
	}
	return 0
}

func (d *daemon) bindFailed(addr, key string, err error) int {
	d.closeSockets()
	if errors.Is(err, syscall.EADDRINUSE) {
		// The usual cause is a second ebb on the same spool: name it, as
		// the spool lock does.
		if holder := queue.LockHolder(d.cfg.Queue.Spool); holder != "" {
			de := diag.New("lock", "lock the spool with", filepath.Join(d.cfg.Queue.Spool, queue.LockFile), nil)
			de.Reason = "held by " + holder + " (and " + addr + " is in use)"
			de.Setting, de.Class = d.cfg.Setting("queue.spool"), diag.Temporary
			de.Hint = "only one ebb serve may use a spool: stop the other instance first"
			return d.fail(de, "lock")
		}
	}
	de := diag.New("listen", "listen on", addr, err)
	de.Setting, de.Class, de.Exit = d.cfg.Setting(key), diag.Temporary, diag.ExOSErr
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		de.Hint = fmt.Sprintf("another program listens there (see: ss -ltnp 'sport = :%s'); stop it or change %s", portOf(addr), key)
	case errors.Is(err, syscall.EACCES):
		de.Hint = "ports below 1024 need root: start ebb serve as root (it drops to server.user after binding), or use a port above 1024"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		de.Hint = "no interface of this host has that address; fix " + key
	}
	return d.fail(de, "listen")
}

func (d *daemon) closeSockets() {
	for _, l := range d.smtpLn {
		l.Close()
	}
	d.smtpLn = nil
	if d.metrLn != nil {
		d.metrLn.Close()
		d.metrLn = nil
	}
}

func (d *daemon) inboundListeners() []smtpd.Listener {
	var ls []smtpd.Listener
	for i, l := range d.smtpLn {
		ls = append(ls, smtpd.Listener{
			Kind: smtpd.Inbound,
			Addr: d.cfg.SMTP.Listen[i],
			// A line must finish within the timeout of the previous one and
			// a session within smtp.max_session_time (slowloris).
			Net:    smtpd.BoundedListener(l, d.cfg.SMTP.MaxSessionTime.Duration, false),
			Policy: smtpd.InboundPolicy{Directory: d.dir},
		})
	}
	return ls
}

func smtpOptions(cfg *config.Config) smtpd.Options {
	host := cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if host == "" {
		host = "localhost"
	}
	return smtpd.Options{
		Hostname:        host,
		MaxMessageBytes: int64(cfg.SMTP.MaxMessageSize),
		MaxRecipients:   cfg.SMTP.MaxRecipients,
		MaxConnections:  cfg.SMTP.MaxConnections,
		MaxPerIP:        cfg.SMTP.MaxPerIP,
		CommandTimeout:  cfg.SMTP.CommandTimeout.Duration,
		DataTimeout:     cfg.SMTP.DataTimeout.Duration,
	}
}

// reload is SIGHUP: read the config again and apply what can change while
// running (limits, timeouts, log level, certificates). A bad config is
// logged and the running one stays.
func (d *daemon) reload() {
	cfg, err := config.Load(d.cfgPath)
	if err != nil {
		d.log.Error("reload: config not applied, the running configuration stays", "err", diag.From(err, "ebb serve", "reload").Sentence())
		return
	}
	if err := logging.SetLevel(d.log.Level, cfg.Log.Level); err != nil {
		d.log.Error("reload", "err", err)
	}
	d.smtp.SetOptions(smtpOptions(cfg))
	if d.certs != nil && cfg.SMTP.TLSCert != "" {
		d.certs.CertFile, d.certs.KeyFile = cfg.SMTP.TLSCert, cfg.SMTP.TLSKey
		if err := d.certs.Reload(); err != nil {
			d.log.Error("reload: TLS certificate not reloaded, the previous one stays", "err", err)
		} else if leaf := d.certs.Leaf(); leaf != nil {
			d.log.Info("reload: TLS certificate loaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
		}
	}
	var restart []string
	if !slices.Equal(cfg.SMTP.Listen, d.cfg.SMTP.Listen) {
		restart = append(restart, "smtp.listen")
	}
	if (cfg.SMTP.TLSCert == "") != (d.cfg.SMTP.TLSCert == "") {
		restart = append(restart, "smtp.tls_cert")
	}
	if cfg.SMTP.MaxMessageSize != d.cfg.SMTP.MaxMessageSize || cfg.SMTP.MaxRecipients != d.cfg.SMTP.MaxRecipients {
		restart = append(restart, "smtp.max_message_size/max_recipients")
	}
	if cfg.Queue.Spool != d.cfg.Queue.Spool || cfg.Metrics.Listen != d.cfg.Metrics.Listen {
		restart = append(restart, "queue.spool/metrics.listen")
	}
	if len(restart) > 0 {
		d.log.Warn("reload: these settings changed and apply only after a restart", "settings", strings.Join(restart, ","))
	}
	d.log.Info("configuration reloaded", "file", cfg.File)
}

// dropPrivileges makes a root-started daemon run as server.user (and
// server.group) once its sockets are bound. First it creates the spool,
// data and mail directories that are missing, owned by that user, since
// the user cannot create them under root-owned parents. Go applies
// setuid/setgid to every thread (Go ≥ 1.16 on Linux).
func (d *daemon) dropPrivileges() (*diag.Identity, error) {
	if os.Geteuid() != 0 {
		who := diag.Self()
		if d.cfg.Server.User != "" && who.User != "" && who.User != d.cfg.Server.User {
			d.log.Info("not started as root: running as the invoking user, not server.user",
				"user", who.User, "server_user", d.cfg.Server.User)
		}
		return who, nil
	}
	uid, gid, err := lookupUser(d.cfg)
	if err != nil {
		return nil, err
	}
	for _, dir := range []struct {
		path string
		mode os.FileMode
	}{{d.cfg.Queue.Spool, 0o700}, {d.cfg.Server.DataDir, 0o750}, {d.cfg.Mail.Root, 0o750}} {
		if dir.path == "" {
			continue
		}
		if _, err := os.Stat(dir.path); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dir.path, dir.mode); err == nil {
				os.Chown(dir.path, uid, gid)
			}
		}
	}
	if uid == 0 {
		d.log.Info("server.user is root: ebb serve keeps running as root", "server_user", d.cfg.Server.User)
		return diag.Self(), nil
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return nil, fmt.Errorf("setgroups(%d): %w", gid, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return nil, fmt.Errorf("setgid(%d): %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return nil, fmt.Errorf("setuid(%d): %w", uid, err)
	}
	return diag.Self(), nil
}

func lookupUser(cfg *config.Config) (uid, gid int, err error) {
	name := cfg.Server.User
	u, err := user.Lookup(name)
	if err != nil {
		de := diag.New("lookup", "find the user", name, err)
		de.Setting, de.Class, de.Exit = cfg.Setting("server.user"), diag.Permanent, diag.ExNoUser
		de.Hint = "create it (useradd --system --user-group --home-dir /var/lib/ebb --shell /usr/sbin/nologin " + name + ") or set server.user"
		return 0, 0, de
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if g := cfg.Server.Group; g != "" {
		grp, err := user.LookupGroup(g)
		if err != nil {
			de := diag.New("lookup", "find the group", g, err)
			de.Setting, de.Class, de.Exit = cfg.Setting("server.group"), diag.Permanent, diag.ExNoUser
			return 0, 0, de
		}
		gid, _ = strconv.Atoi(grp.Gid)
	}
	return uid, gid, nil
}

// spoolAdapter hands SMTP transactions to the queue.
type spoolAdapter struct{ q *queue.Queue }

func (a spoolAdapter) Receive(ctx context.Context, m *smtpd.Message, data io.Reader) (string, error) {
	return a.q.Receive(ctx, &queue.Envelope{
		From:       m.From,
		Recipients: m.Recipients,
		Prefix:     string(m.Prefix),
		ClientAddr: m.RemoteIP,
		ClientHelo: m.Helo,
		AuthUser:   m.AuthUser,
		Proto:      m.Protocol(),
		SessionID:  m.ConnID,
		BodyType:   m.Body,
		SMTPUTF8:   m.SMTPUTF8,
	}, data)
}

func addrList(as []net.Addr) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return p
}
