// Package config holds ebb's configuration: one TOML file whose every key has
// a documented default.
//
// Defaults and documentation live on the struct fields themselves (tags
// `default` and `doc`), so `ebb config defaults` prints exactly what the code
// uses and the two cannot drift (the way mox generates its config docs).
// Each section lives in its own file of this package.
//
// Tags understood on a field:
//
//	toml:"key"       the key name
//	default:"..."    the default, in TOML-ish text (lists: comma-separated)
//	doc:"..."        the comment printed above the key
//	oneof:"a,b"      allowed values of a string
//	min:"N"          the lowest allowed number (also for Duration and Size)
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/ebbmail/ebb/internal/diag"
)

// DefaultPath is where ebb looks for its config when -c is not given.
const DefaultPath = "/etc/ebb/ebb.toml"

// Config is the whole configuration. Sections are defined in their own files.
type Config struct {
	Server     Server     `toml:"server" doc:"The ebb process: who it runs as and where it keeps its state."`
	Mail       Mail       `toml:"mail" doc:"Local delivery into Maildir++."`
	Directory  Directory  `toml:"directory" doc:"Hosted domains, mailboxes and aliases."`
	Queue      Queue      `toml:"queue" doc:"The durable queue: spool, retries, bounces."`
	SMTP       SMTP       `toml:"smtp" doc:"Inbound SMTP for the hosted domains (port 25)."`
	Submission Submission `toml:"submission" doc:"Mail submission by users (587 with STARTTLS, 465 with implicit TLS)."`
	Sendmail   Sendmail   `toml:"sendmail" doc:"Local injection by ebb sendmail (cron, mailx, scripts): the daemon's socket and pickup directory."`
	Sieve      Sieve      `toml:"sieve" doc:"Sieve filtering at delivery."`
	Log        Log        `toml:"log" doc:"Logging."`
	Metrics    Metrics    `toml:"metrics" doc:"Prometheus metrics."`
	DNS        DNS        `toml:"dns" doc:"The DNS resolver for outbound mail and message authentication."`
	Journal    Journal    `toml:"journal" doc:"The journal of every message's events, for ebb explain."`
	DKIM       DKIM       `toml:"dkim" doc:"DKIM signing of mail that leaves ebb, and where its keys are."`
	Auth       Auth       `toml:"auth" doc:"Message authentication of mail from outside: SPF, DKIM and DMARC on port 25, and the Authentication-Results field."`
	Relay      Relay      `toml:"relay" doc:"Outbound delivery to other hosts: MX routing or a smarthost, TLS policy, per-destination limits and dead destinations."`
	MTASTS     MTASTS     `toml:"mta_sts" doc:"MTA-STS (RFC 8461): recipient domains' policies that require verified TLS to the MX they name."`
	Reports    Reports    `toml:"reports" doc:"Aggregate reports: SMTP TLS Reporting (RFC 8460) and DMARC (RFC 7489), sent daily about what ebb saw, and read when other domains send them. See docs/reports.md."`
	DANE       DANE       `toml:"dane" doc:"DANE (RFC 7672): TLS to MX hosts authenticated by their DNSSEC-validated TLSA records. See docs/dane.md."`
	SRS        SRS        `toml:"srs" doc:"The Sender Rewriting Scheme for mail forwarded to other hosts (aliases, Sieve redirects): see docs/srs.md."`
	Scan       Scan       `toml:"scan" doc:"Spam and virus scanning after DATA, before the reply: clamd, spamd, rspamd and milters, each with its failure policy."`
	Doctor     Doctor     `toml:"doctor" doc:"Thresholds for ebb doctor."`
	Fetch      Fetch      `toml:"fetch" doc:"Fetching mail from remote IMAP and POP3 accounts into local mailboxes (the accounts: ebb fetch add)."`
	ACME       ACME       `toml:"acme" doc:"Certificates from an ACME CA (RFC 8555, Let's Encrypt): obtained and renewed by ebb itself, see docs/acme.md."`
	Web        Web        `toml:"web" doc:"ebb's HTTPS (and HTTP) listener: MTA-STS policies of the hosted domains, mail client autoconfiguration, ACME challenges. See docs/web.md."`

	// File is the path the config was read from ("" for defaults only).
	File string `toml:"-"`
	md   toml.MetaData
	locs *locator
}

// Defaults returns a config with every key at its default: the code
// generated from the `default` tags (defaults_generated.go), which
// TestGeneratedDefaults holds equal to reflectDefaults.
func Defaults() *Config {
	if haveGenerated {
		return genDefaults()
	}
	return reflectDefaults()
}

// reflectDefaults builds the defaults from the `default` tags by
// reflection: what the generated code is written from and checked
// against, and what serves while gendefaults rewrites it.
func reflectDefaults() *Config {
	c := &Config{}
	if err := setDefaults(reflect.ValueOf(c).Elem()); err != nil {
		// The defaults are compiled in; a bad one is a programming error
		// that every test run catches.
		panic(err)
	}
	return c
}

// builtin is Defaults made once, for Setting's Builtin (read only).
var builtin = sync.OnceValue(Defaults)

// Load reads path over the defaults and validates it. A missing file at the
// default path (when path is "") gives the defaults.
func Load(path string) (*Config, error) {
	return load(path, DefaultPath)
}

// load is Load with the default path given (a test's own, not this
// machine's /etc/ebb/ebb.toml).
func load(path, defaultPath string) (*Config, error) {
	explicit := path != ""
	if !explicit {
		path = defaultPath
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			c := Defaults()
			return c, nil
		}
		e := diag.PathError("ebb", "open", "read the config file", path, err, nil)
		e.Exit = diag.ExConfig
		return nil, e
	}
	return Parse(path, data)
}

// Parse decodes data (the content of the file at path) over the defaults and
// validates it. All problems are reported together, each with file:line.
func Parse(path string, data []byte) (*Config, error) {
	c := Defaults()
	c.File = path
	c.locs = newLocator(string(data))
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, &Errors{File: path, List: []Problem{decodeProblem(path, c.locs, err)}}
	}
	c.md = md
	var probs []Problem
	undecoded := map[string]bool{}
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	for _, k := range md.Undecoded() {
		key := k.String()
		// Keys inside an unknown table are reported once, with the table.
		if i := strings.LastIndex(key, "."); i >= 0 && undecoded[key[:i]] {
			continue
		}
		p := Problem{Line: c.locs.line(key), Key: key, Msg: fmt.Sprintf("unknown key %q", key)}
		if near := nearestKey(key); near != "" {
			p.Msg += fmt.Sprintf("; did you mean %q?", near)
		}
		probs = append(probs, p)
	}
	var tagged []Problem
	if haveGenerated {
		tagged = genValidate(c)
	} else {
		tagged = validate(reflect.ValueOf(c).Elem(), "")
	}
	for _, p := range tagged {
		p.Line = c.locs.line(p.Key)
		probs = append(probs, p)
	}
	probs = append(probs, c.check()...)
	if len(probs) > 0 {
		for i := range probs {
			if probs[i].Line == 0 && probs[i].Key != "" {
				probs[i].Line = c.locs.line(probs[i].Key)
			}
		}
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return nil, &Errors{File: path, List: probs}
	}
	return c, nil
}

// Setting describes where the value of key came from, for diag errors.
func (c *Config) Setting(key string) *diag.Setting {
	s := &diag.Setting{Key: key, Value: c.valueString(key), Default: true, File: c.File, User: c.Server.User, Group: c.Server.Group}
	if s.File == "" {
		s.File = DefaultPath // defaults only: a fix writes the default file
	}
	if c.File != DefaultPath && c.File != "" {
		s.Config = c.File // hints then say "ebb doctor -c FILE" (the demo's config)
	}
	if d, ok := lookup(reflect.ValueOf(builtin()).Elem(), strings.Split(key, ".")); ok {
		s.Builtin = formatPlain(d)
	}
	if c.md.IsDefined(strings.Split(key, ".")...) {
		s.Default = false
		if c.locs != nil {
			if l := c.locs.line(key); l > 0 {
				s.Where = fmt.Sprintf("%s:%d", c.File, l)
			}
		}
	}
	return s
}

// Has reports whether key is a key of the config (a setting an error
// quotes may be a command-line flag or a phrase).
func (c *Config) Has(key string) bool {
	_, ok := lookup(reflect.ValueOf(c).Elem(), strings.Split(key, "."))
	return ok
}

// IsDefault reports whether key kept its default value.
func (c *Config) IsDefault(key string) bool {
	return !c.md.IsDefined(strings.Split(key, ".")...)
}

func (c *Config) valueString(key string) string {
	v, ok := lookup(reflect.ValueOf(c).Elem(), strings.Split(key, "."))
	if !ok {
		return ""
	}
	return formatPlain(v)
}

// Problem is one error in a config file.
type Problem struct {
	Line int
	Key  string
	Msg  string
}

// Errors is every problem found in one config file.
type Errors struct {
	File string
	List []Problem
}

func (e *Errors) Error() string {
	var b strings.Builder
	for i, p := range e.List {
		if i > 0 {
			b.WriteString("\n")
		}
		if p.Line > 0 {
			fmt.Fprintf(&b, "%s:%d: %s", e.File, p.Line, p.Msg)
		} else {
			fmt.Fprintf(&b, "%s: %s", e.File, p.Msg)
		}
	}
	return b.String()
}

func decodeProblem(path string, l *locator, err error) Problem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if msg == "" {
			msg = pe.Error()
		}
		p := Problem{Line: pe.Position.Line, Key: pe.LastKey, Msg: msg}
		if p.Line == 0 && pe.LastKey != "" {
			p.Line = l.line(pe.LastKey)
		}
		if pe.LastKey != "" && !strings.Contains(msg, pe.LastKey) {
			p.Msg = fmt.Sprintf("%s: %s", pe.LastKey, msg)
		}
		return p
	}
	// Type errors from the decoder name the key but carry no position.
	msg := err.Error()
	p := Problem{Msg: strings.TrimPrefix(msg, "toml: ")}
	if i := strings.Index(msg, "(last key \""); i >= 0 {
		rest := msg[i+len("(last key \""):]
		if j := strings.Index(rest, "\""); j >= 0 {
			p.Key = rest[:j]
			p.Line = l.line(p.Key)
		}
	}
	return p
}
