// Package route is ebb route: the simulator that walks one message through
// the whole inbound path — the SMTP replies at MAIL and each RCPT, the
// size, the checks and scanners after DATA, then for each local recipient
// the directory's resolution, the Maildir, Sieve, the quota and the
// folder, and for a remote one the relay's plan (MX hosts, TLS, MTA-STS,
// DANE) — without queueing, delivering, sending or binding a socket.
//
// It decides nothing itself: every answer comes from ebb serve's own parts
// (smtpd's policies and replies, the daemon's checks, deliver's dry-run
// helpers, sievefilter in dry-run mode, relay's Plan), which
// internal/daemon builds as ebb serve does and hands over as Parts
// (daemon.Route). This package never imports internal/daemon.
//
//	err := route.Run(ctx, route.Options{To: []string{"bob@example.org"}, Stdout: os.Stdout}, parts)
//
// Run prints one line per step (or JSON) and returns nil when the message
// would be accepted and delivered, else a cli.Exit with the sysexits code
// of the first refusal or failure (the steps said it); when route itself
// cannot go on (the message unreadable), the error says why (a
// *diag.Error), and internal/cli tells it as every command's.
package route

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/cli"
	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/relay"
	"github.com/ebbmail/ebb/internal/sievefilter"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// Options is what cmd/ebb route passes from its flags.
type Options struct {
	ConfigPath string
	From       string   // the reverse-path; "" is <>
	To         []string // at least one
	ClientIP   string   // "" is 192.0.2.1 (TEST-NET-1: a client from outside)
	Helo       string   // "" is client.example
	Auth       string   // the account taken as logged in (port 587); its password is not asked
	Port       int      // 25 (inbound) or 587 (submission)
	JSON       bool     // the steps as JSON (cli.Call.AsJSON)
	// Message is the file to judge; "" generates a small message.
	Message string
	Stdout  io.Writer
	Stderr  io.Writer // the checkers' log (internal/daemon's Route)
}

// Check says what is wrong with o as ebb route's command line: no
// recipient, a port other than 25 and 587, or --auth without 587.
func (o Options) Check() error {
	if len(o.To) == 0 {
		return errors.New("give at least one --to")
	}
	if (o.Port != 25 && o.Port != 587) || (o.Auth != "" && o.Port != 587) {
		return errors.New("--port is 25 or 587, and --auth goes with --port 587")
	}
	return nil
}

// Step is one line of ebb route's answer.
type Step struct {
	Step string `json:"step"` // srs, auth, mail, rcpt, size, check, data, resolve, maildir, sieve, quota, folder, forward, route, mx
	Addr string `json:"addr,omitempty"`
	// Code and Enhanced are the SMTP reply where the step has one.
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text"`
	// Path, Owner and Mode: the Maildir folder a store would write to.
	Path  string `json:"path,omitempty"`
	Owner string `json:"owner,omitempty"`
	Mode  string `json:"mode,omitempty"`
	// Exit is set on the step that decides the exit code (a refusal, a
	// delivery that would fail).
	Exit int `json:"exit,omitempty"`
}

// Parts are ebb serve's own parts, built by internal/daemon as ebb serve
// builds them but in dry-run mode: nothing created, written, sent or
// bound. The simulator only calls them.
type Parts struct {
	Config *config.Config
	// Directory is opened read-only and without migrating.
	Directory *directory.Directory
	// Hostname is the name in the session's Received line
	// (smtpd.Options.Hostname).
	Hostname string
	// SRSErr is why SRS could not be set up as ebb serve sets it up (nil:
	// off, or ready); SRSSecret is srs.secret_file as ebb serve reads it.
	SRSErr    error
	SRSSecret string
	// Policy is the session policy of a listener kind (smtpd.Inbound: port
	// 25, with SRS recipients checked; smtpd.Submission: port 587).
	Policy func(kind smtpd.Kind) smtpd.Policy
	// Postmaster is what RCPT TO:<Postmaster> stands for ("" when no
	// domain is hosted).
	Postmaster func(ctx context.Context) (string, error)
	// ReverseSRS turns env's SRS recipients back into the addresses they
	// stand for, as the receiving adapter does before queueing.
	ReverseSRS func(env *queue.Envelope)
	// Check runs the checks after DATA in order as the receiving adapter
	// does, telling passed of each check that passed, the header lines
	// it added and its notes (what it let through, principle 7: the
	// message's record); on a refusal it names the check that refused.
	Check func(ctx context.Context, m *queue.Message, kind smtpd.Kind, tls bool, passed func(name, header string, notes []string)) (header, refusedBy string, err error)
	// Relay makes the remote transport for planning (relay.Relay.Plan):
	// the cached MTA-STS policies only, no DKIM signer.
	Relay func() (*relay.Relay, error)
	// SieveState is where vacation and duplicate records are read (nil:
	// the files under server.data_dir; several hosts: their database).
	SieveState sievefilter.State
}

// Run is ebb route: the whole inbound path for one message through p,
// without queueing, delivering, sending or binding a socket. It prints one
// line per step and returns nil when the message would be accepted and
// delivered, else cli.Exit with the exit code of the first refusal or
// failure; an error of another kind is why route could not go on.
func Run(ctx context.Context, o Options, p *Parts) error {
	cfg := p.Config
	// Without SRS, SRS recipients are not reversed here and forwards are
	// not shown rewritten: said, and not a clean exit.
	var srsStep *Step
	if err := p.SRSErr; err != nil {
		de := diag.From(err, "ebb route", "srs")
		srsStep = &Step{Step: "srs", Exit: de.ExitCode(),
			Text: "SRS skipped (SRS recipients not reversed, forwards not rewritten): " + de.Sentence()}
		if errors.Is(err, os.ErrNotExist) {
			srsStep.Exit = diag.ExTempFail
			srsStep.Text = "SRS skipped: no secret yet at " + p.SRSSecret +
				" (ebb serve makes one when it starts); SRS recipients are not reversed, forwards not rewritten"
		}
	}
	msgPath := o.Message
	if msgPath == "" {
		p, err := generateMessage(cfg.Server.DataDir, cfg.Server.Hostname, o.From, o.To)
		if err != nil {
			de := diag.PathError("ebb route", "create", "create the generated message in", cfg.Server.DataDir, err, cfg.Setting("server.data_dir"))
			de.Exit = diag.ExCantCreat
			return de
		}
		defer os.Remove(p)
		msgPath = p
	}
	r := &router{p: p, cfg: cfg, o: o, path: msgPath}
	if srsStep != nil {
		r.add(*srsStep)
	}
	code, err := r.run(ctx)
	for _, p := range r.files {
		os.Remove(p)
	}
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(o.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Steps []Step `json:"steps"`
			Exit  int    `json:"exit"`
		}{r.steps, code}); err != nil {
			if code == 0 {
				code = diag.ExIOErr
			}
			return cli.Errorf(code, "cannot write the steps: %v", err)
		}
	}
	if code != 0 {
		return cli.Exit(code) // the steps said why
	}
	return nil
}

// generateMessage writes a small message for a route without a file, in
// dir (server.data_dir: ebb's own, never /tmp, principle 3). It is
// removed before route exits. A bounce (from "") is written as a DSN
// comes: From: MAILER-DAEMON@ the host (a From: without a domain is
// refused by the DMARC check, as it would be from outside).
func generateMessage(dir, host, from string, to []string) (string, error) {
	if from == "" {
		from = "MAILER-DAEMON@" + host
	}
	p, _, err := deliver.StageFile(dir, routeFiles, func(w io.Writer) (int64, error) {
		n, err := fmt.Fprintf(w, "From: <%s>\r\nTo: <%s>\r\nSubject: ebb route\r\nDate: %s\r\nMessage-ID: <%d.route@ebb.invalid>\r\n\r\nA message generated by ebb route.\r\n",
			from, strings.Join(to, ">, <"), time.Now().Format(time.RFC1123Z), time.Now().UnixNano())
		return int64(n), err
	})
	return p, err
}

// routeFiles is the pattern of ebb route's staged files in
// server.data_dir (deliver.StageFile).
const routeFiles = ".ebb-route-*.eml"

type router struct {
	p     *Parts
	cfg   *config.Config
	o     Options
	path  string
	steps []Step
	exit  int
	// create are the folders fileinto :create names, per mailbox
	// (createKey): the delivery would make them whatever
	// mail.create_folders says.
	create map[string]bool
	// mailbox is the mailbox whose Sieve script runs now.
	mailbox  string
	sieveLog *strings.Builder
	// files are route's staged files in server.data_dir, removed at the
	// end.
	files []string
}

// staged remembers p, a file staged in server.data_dir (deliver.StageFile),
// to remove at the end; a failure to stage it (err) is said with
// server.data_dir and the fix, and staged is then false.
func (r *router) staged(what, p string, err error) bool {
	if err != nil {
		dir := r.cfg.Server.DataDir
		de := diag.PathError("ebb route", "create", "stage "+what+" in", dir, err, r.cfg.Setting("server.data_dir"))
		r.add(Step{Step: "data", Text: "cannot stage " + what + ": " + de.Error(), Exit: diag.ExCantCreat})
		return false
	}
	r.files = append(r.files, p)
	return true
}

// add prints a step (unless --json, which prints them all at the end) and
// keeps the first exit code.
func (r *router) add(s Step) {
	if s.Exit != 0 && r.exit == 0 {
		r.exit = s.Exit
	}
	r.steps = append(r.steps, s)
	if r.o.JSON {
		return
	}
	line := fmt.Sprintf("%-8s", s.Step)
	if s.Addr != "" {
		line += " <" + s.Addr + ">"
	}
	if s.Code != 0 {
		line += fmt.Sprintf(" %d %s", s.Code, s.Enhanced)
	}
	line += " " + s.Text
	fmt.Fprintln(r.o.Stdout, line)
}

// replyExit is the sysexits code of a refusal: temporary 75, an unknown
// user 67, a policy refusal 77, other permanent ones 69.
func replyExit(code int, enh [3]int) int {
	switch {
	case code < 500:
		return diag.ExTempFail
	case enh[1] == 1 && enh[2] == 1:
		return diag.ExNoUser
	case enh[1] == 7:
		return diag.ExNoPerm
	case enh[1] == 3 && enh[2] == 4:
		return diag.ExDataErr
	}
	return diag.ExUnavailable
}

// messageError is a message file route cannot read (66).
func messageError(path string, err error) error {
	de := diag.PathError("ebb route", "open", "read the message", path, err, nil)
	de.Exit = diag.ExNoInput
	return de
}

func enhString(e [3]int) string { return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2]) }

func (r *router) refusal(step, addr string, err error) {
	// The session's own reply (smtpd.ReplyFor): after DATA only a verdict
	// is a 5xx.
	rep := smtpd.ReplyFor(err, step == "check")
	code, enh, text := rep.Code, rep.Enhanced, rep.Message
	s := Step{Step: step, Addr: addr, Code: code, Enhanced: enhString(enh), Text: text, Exit: replyExit(code, enh)}
	if de, ok := diag.As(err); ok {
		// The admin runs route: the whole sentence, not only the public text.
		s.Text += " (" + de.Sentence() + ")"
	}
	r.add(s)
}

// run walks the steps and returns the exit code of the first refusal or
// failure (0: accepted and delivered), or the error that stopped it.
func (r *router) run(ctx context.Context) (int, error) {
	p, o, cfg := r.p, r.o, r.cfg
	ip, helo := o.ClientIP, o.Helo
	if ip == "" {
		ip = "192.0.2.1"
	}
	if helo == "" {
		helo = "client.example"
	}
	st, err := os.Stat(r.path)
	if err != nil {
		return 0, messageError(r.path, err)
	}
	size := st.Size()

	si := &smtpd.SessionInfo{ConnID: "route", RemoteIP: ip, Helo: helo}
	var pol smtpd.Policy
	switch o.Port {
	case 587:
		si.Kind = smtpd.Submission
		// AUTH is offered only after STARTTLS: the session is taken as TLS.
		si.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
		pol = p.Policy(smtpd.Submission)
		if o.Auth != "" {
			// The login's own lookup (directory.LoginMailbox, as
			// Authenticate): the account must exist, have a password and
			// be enabled, or AUTH fails (RFC 4954 §6: 535 5.7.8); the
			// password itself is not asked.
			mb, err := p.Directory.LoginMailbox(ctx, o.Auth)
			switch {
			case errors.Is(err, directory.ErrAuthFailed):
				r.add(Step{Step: "auth", Addr: o.Auth, Code: 535, Enhanced: "5.7.8", Exit: diag.ExNoPerm,
					Text: "Authentication credentials invalid (" + err.Error() + ": ebb user list)"})
				return r.exit, nil
			case err != nil:
				de := diag.From(err, "ebb route", "auth")
				r.add(Step{Step: "auth", Addr: o.Auth, Code: 454, Enhanced: "4.7.0", Exit: diag.ExTempFail,
					Text: "Temporary authentication failure (" + de.Sentence() + ")"})
				return r.exit, nil
			}
			// The session takes the mailbox's own address (smtpd's auth).
			si.AuthUser = mb.Address
			r.add(Step{Step: "auth", Addr: o.Auth, Code: 235, Enhanced: "2.7.0",
				Text: "taken as logged in as " + mb.Address + " (ebb route does not ask the password)"})
		}
	default:
		si.Kind = smtpd.Inbound
		pol = p.Policy(smtpd.Inbound)
	}
	if err := pol.Mail(ctx, si, o.From, &smtpd.MailOptions{Size: size}); err != nil {
		r.refusal("mail", o.From, err)
		return r.exit, nil
	}
	r.add(Step{Step: "mail", Addr: o.From, Code: 250, Enhanced: "2.1.0", Text: "sender ok"})
	var accepted []string
	for _, to := range o.To {
		if strings.EqualFold(to, "postmaster") {
			// As the session takes RCPT TO:<Postmaster> (RFC 5321 §4.1.1.3).
			if pm, err := p.Postmaster(ctx); err == nil && pm != "" {
				to = pm
			}
		}
		if err := pol.Rcpt(ctx, si, to, &smtpd.RcptOptions{}); err != nil {
			r.refusal("rcpt", to, err)
			continue
		}
		accepted = append(accepted, to)
		r.add(Step{Step: "rcpt", Addr: to, Code: 250, Enhanced: "2.1.5", Text: "recipient ok"})
	}
	if len(accepted) == 0 {
		return r.exit, nil
	}
	if max := int64(cfg.SMTP.MaxMessageSize); max > 0 && size > max {
		r.add(Step{Step: "size", Code: 552, Enhanced: "5.3.4", Exit: diag.ExDataErr,
			Text: fmt.Sprintf("message of %d bytes exceeds smtp.max_message_size (%d bytes)", size, max)})
		return r.exit, nil
	}
	r.add(Step{Step: "size", Text: fmt.Sprintf("%d bytes, within smtp.max_message_size (%d bytes)", size, cfg.SMTP.MaxMessageSize)})

	// The message as the spool would hold it: through the session's own
	// DATA reader (a bare LF becomes CRLF), so that the checks read, and
	// count, what they read in ebb serve.
	src, err := os.Open(r.path)
	if err != nil {
		return 0, messageError(r.path, err)
	}
	spool, spoolSize, err := deliver.StageFile(cfg.Server.DataDir, routeFiles, func(w io.Writer) (int64, error) { return io.Copy(w, smtpd.CRLFReader(src)) })
	ok := r.staged("the message", spool, err)
	src.Close()
	if !ok {
		return r.exit, nil
	}
	// The envelope as the daemon's receive builds it: the session's
	// Received line as the prefix (the checks, spamd among them, read
	// it), SRS addresses reversed (srsReverse), one copy per recipient
	// (the queue's rule).
	now := time.Now()
	env := &queue.Envelope{From: o.From, Recipients: append([]string(nil), accepted...), ClientAddr: ip, ClientHelo: helo,
		AuthUser: si.AuthUser, Proto: smtpd.ProtocolName(si, false), SessionID: "route",
		Prefix: string(smtpd.Received(si, p.Hostname, "route", accepted, false, now))}
	p.ReverseSRS(env)
	for i, a := range env.Recipients {
		if a != accepted[i] {
			r.add(Step{Step: "rcpt", Addr: accepted[i], Text: "SRS address: delivered to " + a + ", the address it stands for"})
		}
	}
	seen := map[string]bool{}
	var rcpts []string
	for _, a := range env.Recipients {
		if !seen[a] {
			seen[a] = true
			rcpts = append(rcpts, a)
		}
	}
	env.Recipients = rcpts
	m := &queue.Message{ID: "route", File: spool, Size: spoolSize, Arrived: now, Envelope: *env}
	header, refusedBy, err := p.Check(ctx, m, si.Kind, si.TLS != nil, func(name, h string, notes []string) {
		text := name + ": passed"
		if h != "" {
			// One line per step: folded header lines unfolded (RFC 5322
			// §2.2.3), fields separated by " | ".
			h = strings.NewReplacer("\r\n\t", " ", "\r\n ", " ").Replace(strings.TrimRight(h, "\r\n"))
			text += ", adds " + strings.ReplaceAll(h, "\r\n", " | ")
		}
		for _, n := range notes {
			text += "; " + n
		}
		r.add(Step{Step: "check", Text: text})
	})
	if err != nil {
		r.refusal("check", "", fmt.Errorf("%s: %w", refusedBy, err))
		return r.exit, nil
	}
	// The queue puts the checks' lines above the Received line.
	m.Envelope.Prefix = header + m.Envelope.Prefix
	if m.Held {
		r.add(Step{Step: "check", Text: "the message would be held in the queue (a scanner asked)"})
	}
	r.add(Step{Step: "data", Code: 250, Enhanced: "2.0.0", Text: "would be queued (not queued: ebb route)"})

	// What the filter logs (a script that does not compile, a missing
	// global script) is part of the answer: each run's lines become a step.
	r.sieveLog = &strings.Builder{}
	filter := sievefilter.NewDryRun(cfg, slog.New(slog.NewTextHandler(r.sieveLog, &slog.HandlerOptions{Level: slog.LevelWarn})), p.SieveState)
	filter.WouldCreate = func(folder string) { r.create[createKey(r.mailbox, folder)] = true }
	r.create = map[string]bool{}
	// One relay for every remote recipient, made at the first; a failure
	// to make it is one step, not one per recipient.
	var relayPlan *relay.Relay
	var relayErr error
	planner := func() *relay.Relay {
		if relayPlan == nil && relayErr == nil {
			relayPlan, relayErr = p.Relay()
			if relayErr != nil {
				de := diag.From(relayErr, "ebb route", "relay")
				r.add(Step{Step: "route", Text: "remote recipients cannot be planned: " + de.Sentence(), Exit: diag.ExConfig})
			}
		}
		return relayPlan
	}
	for _, to := range m.Envelope.Recipients {
		_, domain, _ := smtpd.SplitAddress(to)
		local, err := p.Directory.IsLocalDomain(ctx, domain)
		if err != nil {
			r.refusal("resolve", to, err)
			continue
		}
		if !local || cfg.Mail.DeliveryHost != "" {
			// Another domain's, or stored by the delivery host
			// (mail.delivery_host): the relay's plan says where.
			r.remote(ctx, planner, to, domain)
			continue
		}
		r.local(ctx, filter, planner, m, to)
	}
	return r.exit, nil
}

// local is the local transport's path for one recipient: the directory's
// resolution, each mailbox's Maildir and the Sieve decision, as deliver
// would take them, without writing.
func (r *router) local(ctx context.Context, filter *sievefilter.Filter, planner func() *relay.Relay, m *queue.Message, to string) {
	cfg := r.cfg
	res, err := r.p.Directory.Resolve(ctx, to)
	if err != nil {
		r.refusal("resolve", to, err)
		return
	}
	var names []string
	for _, mb := range res.Mailboxes {
		names = append(names, mb.Address)
	}
	var parts []string
	if len(names) > 0 {
		parts = append(parts, "mailboxes "+strings.Join(names, ", "))
	}
	if len(res.Forwards) > 0 {
		parts = append(parts, "forwards to "+strings.Join(res.Forwards, ", "))
	}
	text := strings.Join(parts, "; ")
	if len(res.Chain) > 1 {
		text += " (through " + strings.Join(res.Chain, " → ") + ")"
	}
	r.add(Step{Step: "resolve", Addr: to, Text: text})
	// Sieve reads, and the quota counts, the copy the agent stages: its
	// prefix (Return-Path, Delivered-To, the checks' lines, Received) and
	// the message with LF line ends (deliver.Agent.View).
	agent := &deliver.Agent{Cfg: cfg, Component: "ebb serve"}
	denv := deliver.Envelope{Sender: m.From(), Recipient: to, Prefix: []byte(m.Prefix()), Folder: m.Envelope.Folder, StripAuthResults: cfg.AuthservID(), RenameVerdicts: true}
	var view string
	var viewSize, offset int64
	if len(res.Mailboxes) > 0 {
		var err error
		view, viewSize, offset, err = agent.StageView(cfg.Server.DataDir, routeFiles, m.File, denv)
		if !r.staged("the message for Sieve", view, err) {
			return
		}
	}
	for _, mb := range res.Mailboxes {
		// The agent's own choice of Maildir and its refusals (a disabled
		// mailbox, a local part that cannot name a directory).
		top, setting, de := deliver.MailboxMaildir(cfg, mb, "ebb serve")
		if de != nil {
			r.add(Step{Step: "maildir", Addr: mb.Address, Path: top, Text: "delivery would fail: " + de.Sentence(), Exit: de.ExitCode()})
			continue
		}
		if !r.maildirStep(mb.Address, top, setting) {
			continue
		}
		r.sieveLog.Reset()
		r.mailbox = mb.Address
		dec, err := filter.Decide(ctx, mb, &deliver.Message{Path: view, Size: viewSize, Offset: offset}, denv)
		for _, l := range strings.Split(strings.TrimSpace(r.sieveLog.String()), "\n") {
			if l != "" {
				r.add(Step{Step: "sieve", Addr: mb.Address, Text: "note: " + l})
			}
		}
		if err != nil {
			de := diag.From(err, "ebb route", "sieve")
			r.add(Step{Step: "sieve", Addr: mb.Address, Text: de.Sentence(), Exit: de.ExitCode()})
			continue
		}
		if dec != nil {
			r.sieveSteps(mb, dec)
			if dec.Reject != "" {
				continue
			}
		}
		stores := dec.StoresFor(m.Envelope.Folder)
		if len(stores) > 0 {
			// The delivery checks the quota before each store; a full
			// mailbox defers or refuses by mail.over_quota.
			if qe := deliver.QuotaProblem(cfg, "ebb serve", mb, top, setting, viewSize); qe != nil {
				r.add(Step{Step: "quota", Addr: mb.Address, Path: top, Text: "delivery would fail: " + qe.Sentence(), Exit: qe.ExitCode()})
				continue
			}
		}
		for _, s := range stores {
			r.folderStep(mb, top, setting, s)
		}
	}
	for _, f := range res.Forwards {
		_, domain, _ := smtpd.SplitAddress(f)
		r.add(Step{Step: "forward", Addr: to, Text: "a copy would be queued for " + f})
		r.remote(ctx, planner, f, domain)
	}
}

// maildirStep says where the top Maildir is and who owns it; false when
// the delivery would fail there.
func (r *router) maildirStep(addr, dir string, setting *diag.Setting) bool {
	err := maildir.Check(dir)
	f := diag.Describe(dir)
	s := Step{Step: "maildir", Addr: addr, Path: dir, Text: dir}
	if f != nil && f.Kind != "missing" && filepath.Clean(f.Path) == filepath.Clean(dir) { // not a parent's
		s.Owner, s.Mode = nameOrID(f.Owner, f.UID)+":"+nameOrID(f.Group, f.GID), f.ModeString()
		s.Text += " (" + s.Owner + " " + s.Mode + ")"
	}
	var me *maildir.MissingError
	switch {
	case err == nil:
		// The delivery stages the message in tmp/ of the top Maildir.
		if de := r.cannotWrite(filepath.Join(dir, "tmp"), "create a file in", setting); de != nil {
			s.Text += "; delivery would fail: " + de.Sentence()
			s.Exit = de.ExitCode()
			r.add(s)
			return false
		}
	case errors.As(err, &me) && r.cfg.Mail.Create:
		s.Text += "; missing " + strings.Join(me.Missing, ", ") + ", would be created (mail.create)"
	default:
		s.Text += "; delivery would fail: " + err.Error()
		if errors.As(err, &me) {
			s.Text += " (set mail.create = true, or create it with maildirmake " + dir + ")"
		}
		s.Exit = diag.ExTempFail
		r.add(s)
		return false
	}
	r.add(s)
	return true
}

// cannotWrite is the error server.user would meet creating a file in dir
// (judged by its owner, group and mode; supplementary groups are not
// counted), or nil. It is diag's own error for EACCES with server.user as
// who, so its fix follows diag's rules (never a chown of a shared path, a
// secret, or another user's directory).
func (r *router) cannotWrite(dir, doing string, setting *diag.Setting) *diag.Error {
	cfg := r.cfg
	u, err := mailuser.Lookup(cfg)
	if err != nil {
		return diag.From(err, "ebb route", "lookup")
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || u.CanWrite(fi) {
		return nil
	}
	return diag.PathErrorAs("ebb serve", "create", doing, dir, syscall.EACCES, setting, u.Identity())
}

func nameOrID(name string, id int) string {
	if name != "" {
		return name
	}
	return fmt.Sprint(id)
}

// sieveSteps says what the filter decided that is not a store.
func (r *router) sieveSteps(mb *directory.Mailbox, dec *deliver.Decision) {
	var parts []string
	for _, s := range dec.Stores {
		f := s.Folder
		if f == "" {
			f = "INBOX"
		}
		p := "fileinto " + f
		if len(s.Flags) > 0 {
			p += " " + strings.Join(s.Flags, " ")
		}
		parts = append(parts, p)
	}
	if dec.Discard && len(dec.Stores) == 0 {
		parts = append(parts, "discard")
	}
	for _, a := range dec.Redirects {
		parts = append(parts, "redirect to "+a+" (would be queued; not sent)")
	}
	for _, v := range dec.Outbound {
		p := "vacation reply to " + strings.Join(v.Recipients, ", ") + " (would be sent; not sent, not remembered)"
		if v.Note != "" {
			p += ": " + v.Note
		}
		parts = append(parts, p)
	}
	if dec.Header != nil {
		parts = append(parts, "header edited")
	}
	if dec.Reject != "" {
		r.add(Step{Step: "sieve", Addr: mb.Address, Code: 550, Enhanced: "5.7.1", Exit: diag.ExNoPerm,
			Text: "reject: " + dec.Reject + " (the delivery would bounce it)"})
		return
	}
	r.add(Step{Step: "sieve", Addr: mb.Address, Text: strings.Join(parts, "; ")})
}

// folderStep names the exact directory a store would write to (Maildir++
// folder, or INBOX when the folder cannot be used, as the delivery does).
func (r *router) folderStep(mb *directory.Mailbox, top string, setting *diag.Setting, s deliver.Store) {
	name := s.Folder
	if name == "" {
		name = "INBOX"
	}
	dir, err := maildir.FolderDir(top, s.Folder)
	if err != nil {
		r.add(Step{Step: "folder", Addr: mb.Address, Path: top, Text: fmt.Sprintf("%s: bad folder name (%v); would go to INBOX %s", name, err, top)})
		return
	}
	sub := "new"
	if letters, _ := maildir.FlagLetters(s.Flags); letters != "" {
		sub = "cur"
	}
	st := Step{Step: "folder", Addr: mb.Address, Path: dir}
	f := diag.Describe(dir)
	if f != nil && f.Kind != "missing" && filepath.Clean(f.Path) == filepath.Clean(dir) { // not a parent's
		st.Owner, st.Mode = nameOrID(f.Owner, f.UID)+":"+nameOrID(f.Group, f.GID), f.ModeString()
	}
	st.Text = fmt.Sprintf("%s → %s/%s/", name, dir, sub)
	if st.Owner != "" {
		st.Text += " (" + st.Owner + " " + st.Mode + ")"
	}
	if dir != top {
		if err := maildir.Check(dir); err != nil {
			switch {
			case r.create[createKey(mb.Address, s.Folder)]:
				st.Text += "; would be created (fileinto :create)"
			case r.cfg.Mail.CreateFolders:
				st.Text += "; would be created (mail.create_folders)"
			default:
				st.Text += "; not usable (" + err.Error() + "), so INBOX " + top + "/" + sub + "/ (mail.create_folders is off)"
				dir = top
			}
		}
	}
	// The delivery links the staged file into new/ (cur/ with flags).
	if de := r.cannotWrite(filepath.Join(dir, sub), "link the message into", setting); de != nil {
		st.Text += "; delivery would fail: " + de.Sentence()
		st.Exit = de.ExitCode()
	}
	r.add(st)
}

// createKey keys the folders fileinto :create would make by mailbox: one
// mailbox's script creates nothing in another's Maildir.
func createKey(mailbox, folder string) string {
	return strings.ToLower(mailbox) + "\x00" + strings.ToLower(folder)
}

// remote is the relay's plan for one remote recipient.
func (r *router) remote(ctx context.Context, planner func() *relay.Relay, to, domain string) {
	rl := planner()
	if rl == nil {
		return
	}
	p, err := rl.Plan(ctx, domain, false)
	s := Step{Step: "route", Addr: to}
	switch {
	case p.Smarthost != "":
		s.Text = fmt.Sprintf("remote: smarthost %s (%s), TLS %s (%s)", p.Smarthost, p.Setting, p.TLS, p.TLSSetting)
		if p.Implicit {
			s.Text += ", implicit TLS"
		}
	default:
		s.Text = fmt.Sprintf("remote: MX of %s, TLS %s (%s)", p.Domain, p.TLS, p.TLSSetting)
		switch {
		case p.STS != nil:
			s.Text += fmt.Sprintf(", MTA-STS %s (mx %s; the cached policy of %s)", p.STS.Mode, strings.Join(p.STS.MX, ", "),
				p.STS.Fetched.UTC().Format(time.RFC3339))
		case r.cfg.MTASTS.Enable:
			s.Text += ", MTA-STS: no cached policy (the relay would look it up)"
		default:
			s.Text += ", MTA-STS off (mta_sts.enable)"
		}
	}
	r.add(s)
	if p.STSErr != nil {
		// The relay goes on without a policy (RFC 8461 §5.1), logged: a
		// downgrade, so not a clean answer either.
		r.add(Step{Step: "mx", Addr: to, Exit: diag.ExTempFail,
			Text: "MTA-STS policy of " + p.Domain + " unavailable (" + p.STSErr.Error() + "): the relay would deliver as without one"})
	}
	for i, h := range p.Hosts {
		t := fmt.Sprintf("%d. %s", i+1, h.Name)
		if h.Implicit {
			t += " (no MX record: the domain's own address)"
		} else {
			t += fmt.Sprintf(" (preference %d)", h.Pref)
		}
		if h.Skipped {
			t += " — skipped: not in the MTA-STS policy"
		}
		if h.DANE != "" {
			t += "; DANE: " + h.DANE
			if len(h.DANERecords) > 0 {
				t += " [" + strings.Join(h.DANERecords, "; ") + "]"
			}
		}
		r.add(Step{Step: "mx", Addr: to, Text: t})
	}
	if err != nil {
		// What delivery meets before connecting: a null MX or a domain
		// with no address (permanent, bounced), DNS trouble or MTA-STS
		// enforce listing none of the hosts (deferred and retried).
		st := Step{Step: "mx", Addr: to, Text: "delivery would fail: " + err.Error(), Exit: diag.ExTempFail}
		if relay.PermanentDNS(err) {
			st.Exit = diag.ExNoHost
		}
		r.add(st)
	}
}
