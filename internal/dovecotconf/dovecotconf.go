// Package dovecotconf writes the Dovecot 2.3 configuration that makes Dovecot
// see ebb's users: the same logins, passwords, Maildirs, quotas and Sieve
// scripts, read straight from ebb's directory database with Dovecot's sql
// driver (dovecot-sqlite or dovecot-pgsql). ebb delivers; Dovecot serves
// IMAP and ManageSieve. docs/dovecot.md says why SQL and not a socket.
//
// Two files come out, because Dovecot's sql driver reads its queries from a
// file of its own:
//
//	f, err := dovecotconf.Generate(cfg, dovecotconf.Options{SQLConf: "/etc/dovecot/ebb-sql.conf.ext"})
//	os.WriteFile("/etc/dovecot/conf.d/99-ebb.conf", []byte(f.Conf), 0o644)
//	os.WriteFile("/etc/dovecot/ebb-sql.conf.ext", []byte(f.SQL), 0o640) // may hold the PostgreSQL password
//
// The queries follow internal/directory/schema.go (tables domains, mailboxes): a login is
// lower(local)@domain; a domain alias logs in as its target domain's
// mailbox; a disabled mailbox or one without a password cannot log in; an
// alias is not a login. Paths follow mail.maildir, mail.root and sieve.*
// exactly as delivery expands them, so Dovecot opens the Maildir ebb writes.
package dovecotconf

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// Options are what the configuration cannot say itself.
type Options struct {
	// SQLConf is where the SQL file will be installed; the main snippet
	// names it in passdb/userdb args.
	SQLConf string
	// UID and GID of server.user; negative: unknown (the snippet names the
	// user, and Dovecot resolves it).
	UID, GID int
}

// Files is the generated configuration.
type Files struct {
	Conf   string // for /etc/dovecot/conf.d/99-ebb.conf
	SQL    string // for Options.SQLConf
	Engine string // "sqlite" or "pgsql" (Dovecot's driver name)
	// Database is the SQLite file, or host:port/db (no password).
	Database string
}

// DefaultSQLConf is where the docs and the package put the SQL file.
const DefaultSQLConf = "/etc/dovecot/ebb-sql.conf.ext"

// Generate writes both files for cfg.
func Generate(cfg *config.Config, o Options) (*Files, error) {
	if o.SQLConf == "" {
		o.SQLConf = DefaultSQLConf
	}
	f := &Files{}
	var connect string
	if p, _ := cfg.SQLiteDirectory(); p != "" {
		f.Engine, f.Database, connect = "sqlite", p, p
	} else {
		c, where, err := libpqConnect(strings.TrimSpace(cfg.Directory.DSN))
		if err != nil {
			return nil, err
		}
		f.Engine, f.Database, connect = "pgsql", where, c
	}
	if f.Engine == "sqlite" {
		if abs, err := filepath.Abs(f.Database); err == nil {
			f.Database, connect = abs, abs
		}
	}
	mail, home, err := pathExprs(cfg)
	if err != nil {
		return nil, err
	}
	sieveDir, sieveActive := sievePaths(cfg)
	f.SQL = sqlFile(f.Engine, connect, mail, home, cfg)
	f.Conf = confFile(cfg, o, f, sieveDir, sieveActive)
	return f, nil
}

// login is the SQL condition that finds the mailbox a login names. Dovecot
// expands %Ln (local part, lower case) and %Ld (domain, lower case) and
// escapes them for SQL. A domain alias (domains.alias_of) leads to the
// mailbox of its target domain, as delivery does.
const login = `m.lookup = '%Ln@' || COALESCE((SELECT d.alias_of FROM domains d WHERE d.name = '%Ld' AND d.alias_of <> ''), '%Ld')`

func sqlFile(engine, connect, mail, home string, cfg *config.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Dovecot's sql driver on ebb's directory (the domains and mailboxes tables of internal/directory/schema.go).
# Printed by: ebb dovecot sql. Regenerate it after changing mail.*, sieve.home
# or directory.dsn in ebb's configuration.
driver = %s
connect = %s
# ebb stores {SCHEME}hash as Dovecot writes it ({ARGON2ID} for new passwords,
# imported {SHA512-CRYPT}, {BLF-CRYPT}, {SSHA512}…); a bare $6$/$5$/$2y$ crypt
# string verifies through crypt(3), a bare $argon2id$ one gets its scheme here.
default_pass_scheme = CRYPT
`, engine, connect)
	// Dovecot expands %; a literal % in SQL is %%.
	pw := `CASE WHEN m.password LIKE '$argon2id$%%' THEN '{ARGON2ID}' || m.password WHEN m.password LIKE '$argon2i$%%' THEN '{ARGON2I}' || m.password ELSE m.password END`
	fmt.Fprintf(&b, "# A disabled mailbox, one without a password, and an alias cannot log in.\n")
	plain := ""
	if !cfg.Directory.AllowPlain {
		// directory.allow_plain = false: ebb refuses clear-text entries at
		// login, so Dovecot must too.
		fmt.Fprintf(&b, "# Nor a clear-text {PLAIN} entry: directory.allow_plain is false.\n")
		plain = " AND upper(m.password) NOT LIKE '{PLAIN}%%' AND upper(m.password) NOT LIKE '{CLEAR}%%' AND upper(m.password) NOT LIKE '{CLEARTEXT}%%'"
	}
	fmt.Fprintf(&b, "password_query = SELECT m.lookup AS user, %s AS password FROM mailboxes m WHERE %s AND m.enabled = 1 AND m.password <> ''%s\n", pw, login, plain)
	quota := fmt.Sprintf(`'*:storage=' || CAST(CASE WHEN m.quota_bytes > 0 THEN m.quota_bytes ELSE %d END AS TEXT) || 'B' AS quota_rule, '*:messages=' || CAST(CASE WHEN m.quota_messages > 0 THEN m.quota_messages ELSE %d END AS TEXT) AS quota_rule2`,
		int64(cfg.Mail.Quota), cfg.Mail.QuotaMessages)
	fmt.Fprintf(&b, "# home holds sieve/ and .dovecot.sieve (ebb's sieve.home); quota 0 is no limit, as in ebb.\n")
	fmt.Fprintf(&b, "user_query = SELECT %s AS home, 'maildir:' || %s AS mail, %s FROM mailboxes m WHERE %s\n", home, mail, quota, login)
	fmt.Fprintf(&b, "iterate_query = SELECT m.lookup AS user FROM mailboxes m\n")
	return b.String()
}

func confFile(cfg *config.Config, o Options, f *Files, sieveDir, sieveActive string) string {
	var b strings.Builder
	from := "server.data_dir"
	if strings.TrimSpace(cfg.Directory.DSN) != "" {
		from = "directory.dsn"
	}
	uid, gid := cfg.Server.User, cfg.Server.User
	if cfg.Server.Group != "" {
		gid = cfg.Server.Group
	}
	if o.UID >= 0 {
		uid = strconv.Itoa(o.UID)
	}
	if o.GID >= 0 {
		gid = strconv.Itoa(o.GID)
	}
	fmt.Fprintf(&b, `# Dovecot 2.3 on ebb's users. Printed by: ebb dovecot config
# Directory: %s (%s, from %s). ebb delivers into the Maildirs; Dovecot
# serves them over IMAP (and ManageSieve, with dovecot-managesieved).
# Install as /etc/dovecot/conf.d/99-ebb.conf, the SQL file from
# "ebb dovecot sql" as %s (mode 0640, root:dovecot),
# and comment out "!include auth-system.conf.ext" in conf.d/10-auth.conf.

# Every Maildir belongs to ebb's mail user (%s), as ebb writes them.
mail_location = maildir:~/Maildir
mail_uid = %s
mail_gid = %s
`, f.Database, f.Engine, from, o.SQLConf, cfg.Server.User, uid, gid)
	if o.UID >= 0 {
		// A system user's uid is below Dovecot's default first_valid_uid (500).
		fmt.Fprintf(&b, "first_valid_uid = %d\n", o.UID)
	}
	fmt.Fprintf(&b, `mail_plugins = $mail_plugins quota

passdb {
  driver = sql
  args = %[1]s
}
userdb {
  driver = sql
  args = %[1]s
}
`, o.SQLConf)
	if f.Engine == "sqlite" {
		fmt.Fprintf(&b, `
# The auth worker reads %s as ebb's mail user: the file holds
# password hashes and is mode 0640 %s; root need not read it.
service auth-worker {
  user = %s
}
`, f.Database, cfg.Server.User, cfg.Server.User)
	}
	fmt.Fprintf(&b, `
plugin {
  # Maildir++ quota (the maildirsize file ebb also reads), limits from
  # ebb's per-mailbox quota or mail.quota / mail.quota_messages.
  quota = maildir:User quota
  # Where ebb reads Sieve scripts (sieve.dir, sieve.script): a script that
  # ManageSieve activates is the one ebb runs at the next delivery.
  sieve = file:%s;active=%s
}

protocol imap {
  mail_plugins = $mail_plugins imap_quota
}
`, sieveDir, sieveActive)
	return b.String()
}

// pathExprs returns SQL expressions for a mailbox's Maildir and home, as
// delivery computes them (deliver.MaildirFor, sieve.home): the mailbox's own
// maildir column when set, else mail.maildir expanded. {local} is the local
// part as stored (address minus "@" and domain), {domain} the domain column.
func pathExprs(cfg *config.Config) (mail, home string, err error) {
	tmpl := cfg.Mail.Maildir
	maildirT, err := expr(tmpl, cfg.Mail.Root, "")
	if err != nil {
		return "", "", fmt.Errorf("mail.maildir: %w", err)
	}
	mail = fmt.Sprintf("CASE WHEN m.maildir <> '' THEN m.maildir ELSE %s END", maildirT)
	h := strings.NewReplacer("~", "", "{home}", "").Replace(cfg.Sieve.Home)
	switch {
	case h == "{maildir}/..":
		// The usual layout: the home is the Maildir's parent. Written
		// without the "..", so Dovecot logs and ~ read naturally.
		parentT := strings.TrimSuffix(filepath.Clean(tmpl), "/Maildir")
		if parentT != filepath.Clean(tmpl) {
			p, err := expr(parentT, cfg.Mail.Root, "")
			if err != nil {
				return "", "", err
			}
			home = fmt.Sprintf("CASE WHEN m.maildir <> '' THEN m.maildir || '/..' ELSE %s END", p)
		} else {
			home = "(" + mail + ") || '/..'"
		}
	default:
		home, err = expr(cfg.Sieve.Home, cfg.Mail.Root, "("+mail+")")
		if err != nil {
			return "", "", fmt.Errorf("sieve.home: %w", err)
		}
	}
	return mail, home, nil
}

// expr turns a path template into an SQL string expression.
func expr(tmpl, root, maildir string) (string, error) {
	local := "substr(m.address, 1, length(m.address) - length(m.domain) - 1)"
	vars := map[string]string{
		"{root}":    sqlString(root),
		"{domain}":  "m.domain",
		"{local}":   local,
		"{address}": local + " || '@' || m.domain",
	}
	if maildir != "" {
		vars["{maildir}"] = maildir
	}
	var parts []string
	lit := ""
	for i := 0; i < len(tmpl); {
		if tmpl[i] == '{' {
			j := strings.IndexByte(tmpl[i:], '}')
			if j < 0 {
				return "", fmt.Errorf("unclosed { in %q", tmpl)
			}
			v, ok := vars[tmpl[i:i+j+1]]
			if !ok {
				return "", fmt.Errorf("placeholder %s is not one Dovecot's configuration can follow", tmpl[i:i+j+1])
			}
			if lit != "" {
				parts = append(parts, sqlString(lit))
				lit = ""
			}
			parts = append(parts, v)
			i += j + 1
			continue
		}
		lit += string(tmpl[i])
		i++
	}
	if lit != "" {
		parts = append(parts, sqlString(lit))
	}
	if len(parts) == 0 {
		return "''", nil
	}
	return strings.Join(parts, " || "), nil
}

// sqlString quotes s for SQL and for Dovecot's % expansion.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, "'", "''"), "%", "%%") + "'"
}

// sievePaths are Pigeonhole's sieve location for sieve.dir and
// sieve.script: "~" is the userdb home, which the user_query sets to
// sieve.home. Per-user placeholders become Dovecot's variables.
func sievePaths(cfg *config.Config) (dir, active string) {
	r := strings.NewReplacer("{home}", "~", "{domain}", "%d", "{local}", "%n", "{address}", "%u", "{maildir}", "~/Maildir")
	return r.Replace(cfg.Sieve.Dir), r.Replace(cfg.Sieve.Script)
}

// libpqConnect turns directory.dsn (a pgx URL or key=value string) into
// the libpq keyword string Dovecot's pgsql driver passes to PQconnectdb.
// pgx's search_path URL parameter becomes libpq's options=-csearch_path=….
func libpqConnect(dsn string) (connect, where string, err error) {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", "", errors.New("directory.dsn does not parse as a PostgreSQL URL (postgres://user:password@host:port/db)")
	}
	kv := []string{"host=" + libpqValue(pc.Host), "port=" + strconv.Itoa(int(pc.Port)),
		"dbname=" + libpqValue(pc.Database), "user=" + libpqValue(pc.User)}
	if pc.Password != "" {
		kv = append(kv, "password="+libpqValue(pc.Password))
	}
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if m := u.Query().Get("sslmode"); m != "" {
			kv = append(kv, "sslmode="+libpqValue(m))
		}
	} else if i := strings.Index(dsn, "sslmode="); i >= 0 {
		m, _, _ := strings.Cut(dsn[i+len("sslmode="):], " ")
		kv = append(kv, "sslmode="+libpqValue(m))
	}
	if sp := pc.RuntimeParams["search_path"]; sp != "" {
		kv = append(kv, "options="+libpqValue("-csearch_path="+sp))
	}
	return strings.Join(kv, " "), fmt.Sprintf("%s:%d/%s", pc.Host, pc.Port, pc.Database), nil
}

// libpqValue quotes a keyword value when it needs it (libpq: single quotes,
// backslash escapes).
func libpqValue(s string) string {
	if s != "" && !strings.ContainsAny(s, " '\\\t") {
		return s
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// ForUser is the options for cfg's server.user with the SQL file at
// sqlConf: its uid and gid when it exists; else negative ones (the
// snippet names the user and Dovecot resolves it at start) and a note
// saying so, with the fix.
func ForUser(cfg *config.Config, sqlConf string) (Options, string) {
	o := Options{SQLConf: sqlConf, UID: -1, GID: -1}
	u, err := mailuser.Lookup(cfg)
	if err == nil {
		o.UID, o.GID = u.UID, u.GID
		return o, ""
	}
	if d, ok := diag.As(err); ok {
		return o, fmt.Sprintf("%s does not exist yet; the snippet names it and Dovecot resolves it at start. Fix: %s", d.Setting.Key, d.Hint)
	}
	return o, ""
}
