package fetch

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// AccountOptions are what ebb fetch add is given.
type AccountOptions struct {
	Name           string
	Server         string // HOST or HOST:PORT; an OAuth2 preset fills it when empty
	Protocol       string // imap (default), pop3
	TLS            string // implicit (default), starttls, none
	AllowPlaintext bool   // needed for TLS none
	CAFile         string
	SkipVerify     bool
	User           string
	To             string // the local mailbox
	Folders        string // comma-separated; IMAP only
	After          string // keep (default), delete, move
	MoveTo         string
	Interval       time.Duration
	// OAuth2 is google, microsoft or custom ("": a password).
	OAuth2                               string
	ClientID, ClientSecret               string
	TokenURL, DeviceURL, AuthURL, Scopes string
	Mechanism                            string // XOAUTH2 (default), OAUTHBEARER
}

// UsageError is a wrong option of ebb fetch add (or an account used in a
// way it cannot be, as ebb fetch auth of a password account): the sentence
// says which and what it takes. The command ends with 64 (EX_USAGE).
type UsageError struct{ Text string }

func (e *UsageError) Error() string { return e.Text }

// ExitCode is EX_USAGE: the command line asked for something the account
// cannot do.
func (e *UsageError) ExitCode() int { return diag.ExUsage }

func usage(f string, a ...any) error { return &UsageError{fmt.Sprintf(f, a...)} }

// DefaultPort is the port of a protocol over a TLS mode: IMAPS 993 and
// POP3S 995 (RFC 8314 §3.3), IMAP 143 and POP3 110 otherwise.
func DefaultPort(protocol, tls string) int {
	switch {
	case protocol == "pop3" && tls == "implicit":
		return 995
	case protocol == "pop3":
		return 110
	case tls == "implicit":
		return 993
	}
	return 143
}

// NewAccount checks o and builds the account ebb fetch add stores (the
// password is set by the caller): every mistake is a *UsageError.
func NewAccount(o AccountOptions) (fetchstate.FetchAccount, error) {
	proto := strings.ToLower(o.Protocol)
	if proto == "" {
		proto = "imap"
	}
	tlsMode := o.TLS
	if tlsMode == "" {
		tlsMode = "implicit"
	}
	after := o.After
	if after == "" {
		after = "keep"
	}
	a := fetchstate.FetchAccount{Name: o.Name, Protocol: proto, TLS: tlsMode, Verify: !o.SkipVerify, CAFile: o.CAFile,
		Username: o.User, Mailbox: o.To, After: after, MoveTo: o.MoveTo, Interval: o.Interval, Enabled: true, Auth: "password"}
	if a.Name == "" {
		return a, usage("the account needs a NAME")
	}
	if a.Protocol != "imap" && a.Protocol != "pop3" {
		return a, usage("--protocol %q: imap or pop3", o.Protocol)
	}
	switch a.TLS {
	case "implicit", "starttls":
	case "none":
		if !o.AllowPlaintext {
			return a, usage("--tls none sends the password in the clear: add --allow-plaintext if you mean it (a server on loopback or a trusted network)")
		}
	default:
		return a, usage("--tls %q: implicit, starttls or none", a.TLS)
	}
	switch a.After {
	case "keep", "delete":
	case "move":
		if a.Protocol == "pop3" {
			return a, usage("--after move: POP3 has no folders; use keep or delete")
		}
		if a.MoveTo == "" {
			return a, usage("--after move needs --move-to FOLDER")
		}
	default:
		return a, usage("--after %q: keep, delete or move", a.After)
	}
	if a.MoveTo != "" && a.After != "move" {
		return a, usage("--move-to is for --after move")
	}
	if a.Interval < 0 {
		return a, usage("--interval %s: it cannot be negative", a.Interval)
	}
	folders := o.Folders
	if folders == "" {
		folders = "INBOX"
	}
	for _, f := range strings.Split(folders, ",") {
		if f = strings.TrimSpace(f); f != "" {
			a.Folders = append(a.Folders, f)
		}
	}
	if len(a.Folders) == 0 {
		return a, usage("--folder %q names no folder", o.Folders)
	}
	if a.Protocol == "pop3" {
		a.Folders = []string{"INBOX"}
	}
	server := o.Server
	if o.OAuth2 != "" {
		a.Auth = "oauth2"
		mech := strings.ToUpper(o.Mechanism)
		if mech == "" {
			mech = "XOAUTH2"
		}
		oa := &fetchstate.OAuth2{Provider: o.OAuth2, ClientID: o.ClientID, ClientSecret: o.ClientSecret, Mechanism: mech}
		if p, ok := Providers[o.OAuth2]; ok {
			oa.AuthURL, oa.TokenURL, oa.DeviceURL, oa.Scopes = p.AuthURL, p.TokenURL, p.DeviceURL, p.Scopes
			if server == "" {
				server = p.IMAPHost
				if a.Protocol == "pop3" {
					server = p.POP3Host
				}
			}
		} else if o.OAuth2 != "custom" {
			return a, usage("--oauth2 %q: google, microsoft or custom", o.OAuth2)
		}
		if o.TokenURL != "" {
			oa.TokenURL = o.TokenURL
		}
		if o.DeviceURL != "" {
			oa.DeviceURL = o.DeviceURL
		}
		if o.AuthURL != "" {
			oa.AuthURL = o.AuthURL
		}
		if o.Scopes != "" {
			oa.Scopes = strings.Fields(o.Scopes)
		}
		if oa.ClientID == "" || oa.TokenURL == "" {
			return a, usage("--oauth2 needs --client-id (and, for custom, --token-url)")
		}
		if oa.Mechanism != "XOAUTH2" && oa.Mechanism != "OAUTHBEARER" {
			return a, usage("--mechanism %q: XOAUTH2 or OAUTHBEARER", o.Mechanism)
		}
		a.OAuth = oa
	}
	if server == "" || a.Username == "" || a.Mailbox == "" {
		return a, usage("--server, --user and --to are needed")
	}
	host, port := server, ""
	if h, p, err := net.SplitHostPort(server); err == nil {
		host, port = h, p
	} else if strings.Count(server, ":") == 1 {
		return a, usage("--server %q: HOST or HOST:PORT (an IPv6 address goes in brackets: [::1]:993)", server)
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" || strings.ContainsAny(host, " /\t\r\n") {
		return a, usage("--server %q: not a host name", server)
	}
	a.Host = host
	a.Port = DefaultPort(a.Protocol, a.TLS)
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return a, usage("--server %q: the port must be a number from 1 to 65535", server)
		}
		a.Port = n
	}
	return a, nil
}

// Changes are what ebb fetch set is given; a nil field stays as it is.
type Changes struct {
	Server         *string
	TLS            *string
	AllowPlaintext bool
	CAFile         *string
	SkipVerify     *bool
	Folders        *string
	After          *string
	MoveTo         *string
	Interval       *time.Duration
}

// Change applies c to a (the account stays the same account: its name,
// protocol, login and mailbox, and what it fetched) and checks the result
// as NewAccount does.
func Change(a fetchstate.FetchAccount, c Changes) (fetchstate.FetchAccount, error) {
	o := AccountOptions{Name: a.Name, Server: a.Host, Protocol: a.Protocol, TLS: a.TLS, AllowPlaintext: a.TLS == "none",
		CAFile: a.CAFile, SkipVerify: !a.Verify, User: a.Username, To: a.Mailbox, Folders: strings.Join(a.Folders, ","),
		After: a.After, MoveTo: a.MoveTo, Interval: a.Interval}
	port := a.Port
	if c.Server != nil {
		o.Server, port = *c.Server, 0
	}
	if c.TLS != nil {
		o.TLS = *c.TLS
		o.AllowPlaintext = c.AllowPlaintext || a.TLS == "none"
		if c.Server == nil {
			port = 0 // the new mode's default port, unless --server gives one
		}
	}
	if c.CAFile != nil {
		o.CAFile = *c.CAFile
	}
	if c.SkipVerify != nil {
		o.SkipVerify = *c.SkipVerify
	}
	if c.Folders != nil {
		o.Folders = *c.Folders
	}
	if c.After != nil {
		o.After = *c.After
		if *c.After != "move" && c.MoveTo == nil {
			o.MoveTo = ""
		}
	}
	if c.MoveTo != nil {
		o.MoveTo = *c.MoveTo
	}
	if c.Interval != nil {
		o.Interval = *c.Interval
	}
	if strings.Contains(o.Server, ":") && !strings.Contains(o.Server, "]") && strings.Count(o.Server, ":") > 1 {
		o.Server = "[" + o.Server + "]" // a bare IPv6 host kept as it was
	}
	n, err := NewAccount(o)
	if err != nil {
		return a, err
	}
	if port != 0 {
		n.Port = port
	}
	n.Auth, n.Password, n.OAuth, n.Enabled, n.Status, n.Created = a.Auth, a.Password, a.OAuth, a.Enabled, a.Status, a.Created
	return n, nil
}
