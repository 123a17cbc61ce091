package daemon

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
	"time"

	"github.com/emersion/go-smtp"

	"github.com/ebbmail/ebb/internal/deliver"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/maildir"
	"github.com/ebbmail/ebb/internal/mtasts"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/relay"
	"github.com/ebbmail/ebb/internal/sievefilter"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// RouteOptions is what cmd/ebb route passes from its flags.
type RouteOptions struct {
	ConfigPath string
	From       string   // the reverse-path; "" is <>
	To         []string // at least one
	ClientIP   string   // "" is 192.0.2.1 (TEST-NET-1: a client from outside)
	Helo       string   // "" is client.example
	Auth       string   // the account taken as logged in (port 587); its password is not asked
	Port       int      // 25 (inbound) or 587 (submission)
	JSON       bool
	// Message is the file to judge; "" generates a small message.
	Message string
	Stdout  io.Writer
	Stderr  io.Writer
}

// RouteStep is one line of ebb route's answer.
type RouteStep struct {
	Step string `json:"step"` // mail, rcpt, size, check, resolve, maildir, folder, sieve, forward, route, mx
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

// Route is ebb route: the whole inbound path for one message, with the
// daemon's own policy objects, checks, directory, Sieve and relay routing,
// without queueing, delivering, sending or binding a socket. It prints one
// line per step and returns 0 when the message would be accepted and
// delivered, else the exit code of the first refusal or failure.
func Route(ctx context.Context, o RouteOptions) int {
	cfg, ok := loadConfig(o.ConfigPath, o.Stderr)
	if !ok {
		return diag.ExConfig
	}
	// The checkers log what they decide at info; the answer is the steps.
	lg, err := logging.New(o.Stderr, cfg.Log.Format, "error")
	if err != nil {
		fmt.Fprintln(o.Stderr, "ebb route:", err)
		return diag.ExConfig
	}
	if path, setting := cfg.SQLiteDirectory(); path != "" {
		// Opening a missing SQLite file would create it: route changes nothing.
		if _, err := os.Stat(path); err != nil {
			de := diag.PathError("ebb route", "open", "open the directory database", path, err, setting)
			de.Exit, de.Hint = diag.ExConfig, "create the directory first (ebb domain add, ebb user add), or point directory.dsn at it"
			fmt.Fprintln(o.Stderr, de.Sentence())
			return de.ExitCode()
		}
	}
	dir, err := directory.OpenWith(ctx, cfg, directory.Options{Logger: lg.With("component", "directory"), NoMigrate: true})
	if err != nil {
		fmt.Fprintln(o.Stderr, diag.From(err, "ebb route", "open").Sentence())
		return diag.From(err, "ebb route", "open").ExitCode()
	}
	defer dir.Close()
	d := &daemon{ctx: ctx, stdout: o.Stdout, stderr: o.Stderr, cfgPath: o.ConfigPath, cfg: cfg, log: lg, dir: dir, dryRun: true}
	if cfg.SRS.Enable {
		// Only an existing secret: route never creates one.
		if _, err := os.Stat(d.srsSecretPath()); err == nil {
			if err := d.startSRS(); err != nil {
				fmt.Fprintln(o.Stderr, diag.From(err, "ebb route", "srs").Sentence())
			}
		}
	}
	msgPath := o.Message
	if msgPath == "" {
		p, err := generateMessage(cfg.Server.DataDir, o.From, o.To)
		if err != nil {
			de := diag.PathError("ebb route", "create", "create the generated message in", cfg.Server.DataDir, err, cfg.Setting("server.data_dir"))
			fmt.Fprintln(o.Stderr, de.Sentence())
			return diag.ExCantCreat
		}
		defer os.Remove(p)
		msgPath = p
	}
	r := &router{d: d, o: o, path: msgPath}
	code := r.run(ctx)
	if o.JSON {
		enc := json.NewEncoder(o.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			Steps []RouteStep `json:"steps"`
			Exit  int         `json:"exit"`
		}{r.steps, code})
	}
	return code
}

// generateMessage writes a small message for a route without a file, in
// dir (server.data_dir: ebb's own, never /tmp, principle 3). It is
// removed before route exits.
func generateMessage(dir, from string, to []string) (string, error) {
	f, err := os.CreateTemp(dir, ".ebb-route-*.eml")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if from == "" {
		from = "MAILER-DAEMON"
	}
	fmt.Fprintf(f, "From: <%s>\r\nTo: <%s>\r\nSubject: ebb route\r\nDate: %s\r\nMessage-ID: <%d.route@ebb.invalid>\r\n\r\nA message generated by ebb route.\r\n",
		from, strings.Join(to, ">, <"), time.Now().Format(time.RFC1123Z), time.Now().UnixNano())
	return f.Name(), f.Close()
}

type router struct {
	d     *daemon
	o     RouteOptions
	path  string
	steps []RouteStep
	exit  int
	// create are the folders fileinto :create names (lower case): the
	// delivery would make them whatever mail.create_folders says.
	create   map[string]bool
	sieveLog *strings.Builder
	// sievePath is the message Sieve reads: the checks' header lines
	// and the message (the file itself when they added none).
	sievePath string
	sieveSize int64
}

// prefixedCopy writes header and then the file at path into a file in dir
// (server.data_dir; streamed: memory stays flat for any size), as the
// delivery stages the prefixed message in the Maildir's tmp/, and returns
// its path and size. Like the generated message, it is removed before
// route exits.
func prefixedCopy(dir, header, path string) (string, int64, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer src.Close()
	f, err := os.CreateTemp(dir, ".ebb-route-*.eml")
	if err != nil {
		return "", 0, err
	}
	n, err := io.Copy(f, io.MultiReader(strings.NewReader(header), src))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", 0, err
	}
	return f.Name(), n, nil
}

// add prints a step (unless --json, which prints them all at the end) and
// keeps the first exit code.
func (r *router) add(s RouteStep) {
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

// reply turns a policy's answer into the reply the session would give
// (smtpd's session.refuse and trouble): an *smtp.SMTPError as it is,
// anything else as our temporary trouble (never a 5xx).
// After DATA (verdict true), a permanent diag error with a 5xx is a
// verdict on the message (a virus, a DMARC reject), replied as it is, as
// the session's Data does.
func reply(err error, verdict bool) (code int, enh [3]int, text string) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, [3]int(se.EnhancedCode), se.Message
	}
	de := diag.From(err, "ebb serve", "receive")
	code, enh, text = de.SMTPReply()
	if verdict && de.Class == diag.Permanent && code >= 500 {
		return code, enh, text
	}
	if code >= 500 || code < 400 {
		code, enh = 451, [3]int{4, 3, 0}
	}
	return code, enh, text
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

func enhString(e [3]int) string { return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2]) }

func (r *router) refusal(step, addr string, err error) {
	code, enh, text := reply(err, step == "check")
	s := RouteStep{Step: step, Addr: addr, Code: code, Enhanced: enhString(enh), Text: text, Exit: replyExit(code, enh)}
	if de, ok := diag.As(err); ok {
		// The admin runs route: the whole sentence, not only the public text.
		s.Text += " (" + de.Sentence() + ")"
	}
	r.add(s)
}

func (r *router) run(ctx context.Context) int {
	d, o, cfg := r.d, r.o, r.d.cfg
	ip, helo := o.ClientIP, o.Helo
	if ip == "" {
		ip = "192.0.2.1"
	}
	if helo == "" {
		helo = "client.example"
	}
	st, err := os.Stat(r.path)
	if err != nil {
		de := diag.PathError("ebb route", "open", "read the message", r.path, err, nil)
		fmt.Fprintln(o.Stderr, de.Sentence())
		return diag.ExNoInput
	}
	size := st.Size()

	si := &smtpd.SessionInfo{ConnID: "route", RemoteIP: ip, Helo: helo}
	var pol smtpd.Policy
	proto := "ESMTP"
	switch o.Port {
	case 587:
		si.Kind = smtpd.Submission
		// AUTH is offered only after STARTTLS: the session is taken as TLS.
		si.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
		si.AuthUser = o.Auth
		pol = d.submissionPolicy()
		proto = "ESMTPS"
		if o.Auth != "" {
			proto = "ESMTPSA"
			// The account must exist and be enabled, or AUTH fails
			// (RFC 4954 §6: 535 5.7.8); its password is not asked.
			res, err := d.dir.Resolve(ctx, o.Auth)
			if err != nil {
				r.refusal("auth", o.Auth, err)
				return r.exit
			}
			if len(res.Mailboxes) != 1 || res.Mailboxes[0].Address != res.Address || !res.Mailboxes[0].Enabled {
				r.add(RouteStep{Step: "auth", Addr: o.Auth, Code: 535, Enhanced: "5.7.8", Exit: diag.ExNoPerm,
					Text: "Authentication credentials invalid (no enabled mailbox of that name: ebb user list)"})
				return r.exit
			}
			r.add(RouteStep{Step: "auth", Addr: o.Auth, Code: 235, Enhanced: "2.7.0",
				Text: "taken as logged in (ebb route does not ask the password)"})
		}
	default:
		si.Kind = smtpd.Inbound
		pol = d.inboundPolicy(smtpd.InboundPolicy{Directory: d.dir, Deliverable: d.deliverable})
	}
	if err := pol.Mail(ctx, si, o.From, &smtp.MailOptions{Size: size}); err != nil {
		r.refusal("mail", o.From, err)
		return r.exit
	}
	r.add(RouteStep{Step: "mail", Addr: o.From, Code: 250, Enhanced: "2.1.0", Text: "sender ok"})
	var accepted []string
	for _, to := range o.To {
		if err := pol.Rcpt(ctx, si, to, &smtp.RcptOptions{}); err != nil {
			r.refusal("rcpt", to, err)
			continue
		}
		accepted = append(accepted, to)
		r.add(RouteStep{Step: "rcpt", Addr: to, Code: 250, Enhanced: "2.1.5", Text: "recipient ok"})
	}
	if len(accepted) == 0 {
		return r.exit
	}
	if max := int64(cfg.SMTP.MaxMessageSize); max > 0 && size > max {
		r.add(RouteStep{Step: "size", Code: 552, Enhanced: "5.3.4", Exit: diag.ExDataErr,
			Text: fmt.Sprintf("message of %d bytes exceeds smtp.max_message_size (%d bytes)", size, max)})
		return r.exit
	}
	r.add(RouteStep{Step: "size", Text: fmt.Sprintf("%d bytes, within smtp.max_message_size (%d bytes)", size, cfg.SMTP.MaxMessageSize)})

	m := &queue.Message{ID: "route", DataPath: r.path, Size: size, Arrived: time.Now(), Envelope: queue.Envelope{
		From: o.From, Recipients: accepted, ClientAddr: ip, ClientHelo: helo, AuthUser: si.AuthUser, Proto: proto, SessionID: "route",
	}}
	in := &checkInput{Msg: m, Kind: si.Kind, TLS: si.TLS != nil}
	for _, c := range d.checkers() {
		h, err := c.check(ctx, in)
		if err != nil {
			r.refusal("check", "", fmt.Errorf("%s: %w", c.name(), err))
			return r.exit
		}
		in.Header.WriteString(h)
		text := c.name() + ": passed"
		if h != "" {
			// One line per step: folded header lines unfolded (RFC 5322
			// §2.2.3), fields separated by " | ".
			h = strings.NewReplacer("\r\n\t", " ", "\r\n ", " ").Replace(strings.TrimRight(h, "\r\n"))
			text += ", adds " + strings.ReplaceAll(h, "\r\n", " | ")
		}
		r.add(RouteStep{Step: "check", Text: text})
	}
	if m.Held {
		r.add(RouteStep{Step: "check", Text: "the message would be held in the queue (a scanner asked)"})
	}
	r.add(RouteStep{Step: "data", Code: 250, Enhanced: "2.0.0", Text: "would be queued (not queued: ebb route)"})

	// What the filter logs (a script that does not compile, a missing
	// global script) is part of the answer: each run's lines become a step.
	r.sieveLog = &strings.Builder{}
	filter := sievefilter.New(cfg, slog.New(slog.NewTextHandler(r.sieveLog, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	filter.DryRun = true
	filter.WouldCreate = func(folder string) { r.create[strings.ToLower(folder)] = true }
	r.create = map[string]bool{}
	var relayPlan *relay.Relay
	planner := func() *relay.Relay {
		if relayPlan == nil {
			var sts relay.STSPolicies
			if c := d.mtastsCache(); c != nil {
				sts = stsPeek{c}
			}
			rl, err := relay.New(cfg, relay.Options{Resolver: dnsresolve.New(cfg), Log: d.log.Logger, STS: sts, Hostname: cfg.Server.Hostname})
			if err != nil {
				r.add(RouteStep{Step: "route", Text: diag.From(err, "ebb route", "relay").Sentence(), Exit: diag.ExConfig})
				return nil
			}
			relayPlan = rl
		}
		return relayPlan
	}
	// Sieve sees the message as stored: the checks' header lines first
	// (spamtest and virustest read ebb's scan headers, RFC 5235).
	r.sievePath, r.sieveSize = r.path, size
	if h := in.Header.String(); h != "" {
		p, n, err := prefixedCopy(d.cfg.Server.DataDir, h, r.path)
		if err != nil {
			de := diag.PathError("ebb route", "create", "stage the message for Sieve in", d.cfg.Server.DataDir, err, d.cfg.Setting("server.data_dir"))
			fmt.Fprintln(r.o.Stderr, de.Sentence())
			return diag.ExCantCreat
		}
		defer os.Remove(p)
		r.sievePath, r.sieveSize = p, n
	}
	for _, to := range accepted {
		_, domain, _ := smtpd.SplitAddress(to)
		local, err := d.dir.IsLocalDomain(ctx, domain)
		if err != nil {
			r.refusal("resolve", to, err)
			continue
		}
		if !local {
			r.remote(ctx, planner, to, domain)
			continue
		}
		r.local(ctx, filter, planner, m, to)
	}
	return r.exit
}

// local is the local transport's path for one recipient: the directory's
// resolution, each mailbox's Maildir and the Sieve decision, as deliver
// would take them, without writing.
func (r *router) local(ctx context.Context, filter *sievefilter.Filter, planner func() *relay.Relay, m *queue.Message, to string) {
	cfg := r.d.cfg
	res, err := r.d.dir.Resolve(ctx, to)
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
	r.add(RouteStep{Step: "resolve", Addr: to, Text: text})
	for _, mb := range res.Mailboxes {
		top := mb.Maildir
		if top == "" {
			p, err := deliver.MaildirFor(cfg, mb.Address)
			if err != nil {
				r.add(RouteStep{Step: "maildir", Addr: mb.Address, Text: err.Error(), Exit: diag.ExUnavailable})
				continue
			}
			top = p
		}
		if !r.maildirStep("maildir", mb.Address, top, cfg.Mail.Create) {
			continue
		}
		r.sieveLog.Reset()
		dec, err := filter.Decide(ctx, mb, &deliver.Message{Path: r.sievePath, Size: r.sieveSize, Offset: r.sieveSize - m.Size},
			deliver.Envelope{Sender: m.From(), Recipient: to, Folder: m.Envelope.Folder})
		for _, l := range strings.Split(strings.TrimSpace(r.sieveLog.String()), "\n") {
			if l != "" {
				r.add(RouteStep{Step: "sieve", Addr: mb.Address, Text: "note: " + l})
			}
		}
		if err != nil {
			de := diag.From(err, "ebb route", "sieve")
			r.add(RouteStep{Step: "sieve", Addr: mb.Address, Text: de.Sentence(), Exit: de.ExitCode()})
			continue
		}
		stores := []deliver.Store{{Folder: m.Envelope.Folder}}
		if dec != nil {
			r.sieveSteps(mb, dec)
			if dec.Reject != "" {
				continue
			}
			stores = dec.Stores
			if len(stores) == 0 && !dec.Discard {
				stores = []deliver.Store{{Folder: m.Envelope.Folder}}
			}
		}
		for _, s := range stores {
			r.folderStep(mb, top, s)
		}
	}
	for _, f := range res.Forwards {
		_, domain, _ := smtpd.SplitAddress(f)
		r.add(RouteStep{Step: "forward", Addr: to, Text: "a copy would be queued for " + f})
		r.remote(ctx, planner, f, domain)
	}
}

// maildirStep says where the top Maildir is and who owns it; false when
// the delivery would fail there.
func (r *router) maildirStep(step, addr, dir string, create bool) bool {
	err := maildir.Check(dir)
	f := diag.Describe(dir)
	s := RouteStep{Step: step, Addr: addr, Path: dir, Text: dir}
	if f != nil && f.Kind != "missing" && filepath.Clean(f.Path) == filepath.Clean(dir) { // not a parent's
		s.Owner, s.Mode = nameOrID(f.Owner, f.UID)+":"+nameOrID(f.Group, f.GID), f.ModeString()
		s.Text += " (" + s.Owner + " " + s.Mode + ")"
	}
	var me *maildir.MissingError
	switch {
	case err == nil:
		if why := r.cannotWrite(filepath.Join(dir, "tmp")); why != "" {
			s.Text += "; delivery would fail: " + why
			s.Exit = diag.ExTempFail
			r.add(s)
			return false
		}
	case errors.As(err, &me) && create:
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

// cannotWrite says why server.user could not create a file in dir (by
// its owner, group and mode; supplementary groups are not counted), or "".
func (r *router) cannotWrite(dir string) string {
	uid, gid, err := lookupUser(r.d.cfg)
	if err != nil {
		return diag.From(err, "ebb route", "lookup").Sentence()
	}
	f := diag.Describe(dir)
	if uid == 0 || f == nil || f.Kind != "directory" {
		return ""
	}
	need := uint32(0o002 | 0o001)
	switch {
	case f.UID == uid:
		need = 0o200 | 0o100
	case f.GID == gid:
		need = 0o020 | 0o010
	}
	if f.Mode&need == need {
		return ""
	}
	return fmt.Sprintf("server.user %s (uid %d) cannot create files in %s, which is %s:%s %s; fix: chown %s %s, or run: ebb doctor",
		r.d.cfg.Server.User, uid, dir, nameOrID(f.Owner, f.UID), nameOrID(f.Group, f.GID), f.ModeString(), r.d.cfg.Server.User, dir)
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
		parts = append(parts, "vacation reply to "+strings.Join(v.Recipients, ", ")+" (would be sent; not sent, not remembered)")
	}
	if dec.Header != nil {
		parts = append(parts, "header edited")
	}
	if dec.Reject != "" {
		r.add(RouteStep{Step: "sieve", Addr: mb.Address, Code: 550, Enhanced: "5.7.1", Exit: diag.ExNoPerm,
			Text: "reject: " + dec.Reject + " (the delivery would bounce it)"})
		return
	}
	r.add(RouteStep{Step: "sieve", Addr: mb.Address, Text: strings.Join(parts, "; ")})
}

// folderStep names the exact directory a store would write to (Maildir++
// folder, or INBOX when the folder cannot be used, as the delivery does).
func (r *router) folderStep(mb *directory.Mailbox, top string, s deliver.Store) {
	name := s.Folder
	if name == "" {
		name = "INBOX"
	}
	dir, err := maildir.FolderDir(top, s.Folder)
	if err != nil {
		r.add(RouteStep{Step: "folder", Addr: mb.Address, Path: top, Text: fmt.Sprintf("%s: bad folder name (%v); would go to INBOX %s", name, err, top)})
		return
	}
	sub := "new"
	if letters, _ := maildir.FlagLetters(s.Flags); letters != "" {
		sub = "cur"
	}
	st := RouteStep{Step: "folder", Addr: mb.Address, Path: dir}
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
			case r.create[strings.ToLower(s.Folder)]:
				st.Text += "; would be created (fileinto :create)"
			case r.d.cfg.Mail.CreateFolders:
				st.Text += "; would be created (mail.create_folders)"
			default:
				st.Text += "; not usable (" + err.Error() + "), so INBOX " + top + "/" + sub + "/ (mail.create_folders is off)"
			}
		}
	}
	r.add(st)
}

// remote is the relay's plan for one remote recipient.
func (r *router) remote(ctx context.Context, planner func() *relay.Relay, to, domain string) {
	rl := planner()
	if rl == nil {
		return
	}
	p, err := rl.Plan(ctx, domain, false)
	s := RouteStep{Step: "route", Addr: to}
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
		case r.d.cfg.MTASTS.Enable:
			s.Text += ", MTA-STS: no cached policy (the relay would look it up)"
		default:
			s.Text += ", MTA-STS off (mta_sts.enable)"
		}
	}
	r.add(s)
	if err != nil {
		st := RouteStep{Step: "mx", Addr: to, Text: err.Error(), Exit: diag.ExTempFail}
		if relay.PermanentDNS(err) {
			st.Exit = diag.ExNoHost
		}
		r.add(st)
		return
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
		r.add(RouteStep{Step: "mx", Addr: to, Text: t})
	}
}

// stsPeek gives the relay's plan the cached MTA-STS policy only: ebb route
// asks no DNS for it and fetches nothing.
type stsPeek struct{ c *mtasts.Cache }

func (s stsPeek) Get(_ context.Context, domain string) (*mtasts.Policy, error) {
	return s.c.Cached(domain), nil
}
