package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/config"
)

// Domain is a hosted domain, or a domain alias when AliasOf is set.
type Domain struct {
	Name      string `json:"name"`              // lower-case ASCII (punycode)
	Unicode   string `json:"unicode,omitempty"` // for people, when it differs
	AliasOf   string `json:"alias_of,omitempty"`
	Mailboxes int    `json:"mailboxes"`
	Aliases   int    `json:"aliases"`
}

// Alias is one address and where it leads. Address "@domain" is the
// domain's catch-all.
type Alias struct {
	Address      string   `json:"address"`
	Destinations []string `json:"destinations"`
}

// changed forgets cached lookups after a write through this Directory, and
// writes the delivery map again (map.go).
func (d *Directory) changed() {
	d.watch.own.Add(1) // fresh.go
	d.resolved.clear()
	d.domains.clear()
	d.mapChanged()
}

// AddDomain starts hosting name.
func (d *Directory) AddDomain(ctx context.Context, name string) error {
	return d.addDomain(ctx, name, "")
}

// AddDomainAlias makes alias an alternative name of the hosted domain target:
// local@alias reaches whatever local@target reaches.
func (d *Directory) AddDomainAlias(ctx context.Context, alias, target string) error {
	t, err := NormalizeDomain(target)
	if err != nil {
		return err
	}
	di, err := d.domain(ctx, t)
	if err != nil {
		return err
	}
	if !di.hosted {
		return fmt.Errorf("domain alias target %s: %w", t, ErrNotHosted)
	}
	// Point at the real domain, so that aliases of aliases stay one step.
	return d.addDomain(ctx, alias, di.canonical)
}

func (d *Directory) addDomain(ctx context.Context, name, aliasOf string) error {
	n, err := NormalizeDomain(name)
	if err != nil {
		return err
	}
	if n == aliasOf {
		return fmt.Errorf("domain %s cannot be an alias of itself", n)
	}
	_, err = d.db.ExecContext(ctx, d.q(`INSERT INTO domains (name, alias_of, created) VALUES (?, ?, ?)`), n, aliasOf, time.Now().Unix())
	if isUnique(err) {
		return fmt.Errorf("domain %s: %w", n, ErrExists)
	}
	if err != nil {
		return d.dbError("add a domain", err)
	}
	d.changed()
	return nil
}

// HostedDomains opens cfg's directory read-only (nothing created or
// migrated; ten seconds at most) and lists the names of the hosted
// domains, and of the domain aliases too when aliases is set: what ebb dns
// check and doctor's DNS, ACME and report checks look at. log takes the
// directory's notes (nil: slog.Default()).
func HostedDomains(ctx context.Context, cfg *config.Config, aliases bool, log *slog.Logger) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := OpenWith(ctx, cfg, Options{ReadOnly: true, NoMigrate: true, Logger: log})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	doms, err := d.Domains(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, x := range doms {
		if aliases || x.AliasOf == "" {
			out = append(out, x.Name)
		}
	}
	return out, nil
}

// Domains lists the hosted domains and domain aliases, with counts.
func (d *Directory) Domains(ctx context.Context) ([]Domain, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT name, alias_of,
		(SELECT count(*) FROM mailboxes m WHERE m.domain = d.name),
		(SELECT count(DISTINCT lookup) FROM aliases a WHERE a.domain = d.name)
		FROM domains d ORDER BY name`)
	if err != nil {
		return nil, d.dbError("list domains", err)
	}
	defer rows.Close()
	var out []Domain
	for rows.Next() {
		var x Domain
		if err := rows.Scan(&x.Name, &x.AliasOf, &x.Mailboxes, &x.Aliases); err != nil {
			return nil, d.dbError("list domains", err)
		}
		if u := DomainUnicode(x.Name); u != x.Name {
			x.Unicode = u
		}
		out = append(out, x)
	}
	return out, d.dbError("list domains", rows.Err())
}

// RemovedDomain is what RemoveDomain took away.
type RemovedDomain struct {
	Mailboxes []*Mailbox // so that the caller can remove their mail when asked
	Aliases   int
	Domains   []string // the domain and its domain aliases
}

// RemoveDomain stops hosting name, with its aliases and domain aliases. A
// domain that still has mailboxes is refused unless force; the mailboxes are
// then removed from the directory, never their mail on disk (the caller does
// that, when asked, with the returned list).
func (d *Directory) RemoveDomain(ctx context.Context, name string, force bool) (*RemovedDomain, error) {
	n, err := NormalizeDomain(name)
	if err != nil {
		return nil, err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, d.dbError("remove a domain", err)
	}
	defer tx.Rollback()
	var aliasOf string
	err = tx.QueryRowContext(ctx, d.q(`SELECT alias_of FROM domains WHERE name = ?`), n).Scan(&aliasOf)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("domain %s: %w", n, ErrNotFound)
	}
	if err != nil {
		return nil, d.dbError("remove a domain", err)
	}
	res := &RemovedDomain{Domains: []string{n}}
	rows, err := tx.QueryContext(ctx, d.q(`SELECT `+mailboxColumns+` FROM mailboxes WHERE domain = ? ORDER BY lookup`), n)
	if err != nil {
		return nil, d.dbError("remove a domain", err)
	}
	for rows.Next() {
		mb, err := scanMailbox(rows)
		if err != nil {
			rows.Close()
			return nil, d.dbError("remove a domain", err)
		}
		res.Mailboxes = append(res.Mailboxes, mb)
	}
	rows.Close()
	if len(res.Mailboxes) > 0 && !force {
		return res, fmt.Errorf("domain %s has %d mailboxes: %w (use --force to remove them from the directory; their mail stays on disk unless --delete-mail)", n, len(res.Mailboxes), ErrHasMailboxes)
	}
	if aliasOf == "" {
		var more []string
		r2, err := tx.QueryContext(ctx, d.q(`SELECT name FROM domains WHERE alias_of = ?`), n)
		if err != nil {
			return nil, d.dbError("remove a domain", err)
		}
		for r2.Next() {
			var s string
			r2.Scan(&s)
			more = append(more, s)
		}
		r2.Close()
		res.Domains = append(res.Domains, more...)
	}
	for _, dom := range res.Domains {
		r, err := tx.ExecContext(ctx, d.q(`DELETE FROM aliases WHERE domain = ?`), dom)
		if err != nil {
			return nil, d.dbError("remove a domain", err)
		}
		c, _ := r.RowsAffected()
		res.Aliases += int(c)
		for _, s := range []string{`DELETE FROM mailboxes WHERE domain = ?`, `DELETE FROM domains WHERE name = ?`} {
			if _, err := tx.ExecContext(ctx, d.q(s), dom); err != nil {
				return nil, d.dbError("remove a domain", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, d.dbError("remove a domain", err)
	}
	d.changed()
	return res, nil
}

// mailboxKey normalises a mailbox address and checks its domain is hosted
// (a domain alias is replaced by its target). It returns the key, the address
// as stored and the domain.
func (d *Directory) mailboxKey(ctx context.Context, address string) (key, stored, domain string, err error) {
	return d.hostedKey(ctx, address, false)
}

// hostedKey is mailboxKey, and with catchAll aliasKey: "@domain" too.
func (d *Directory) hostedKey(ctx context.Context, address string, catchAll bool) (key, stored, domain string, err error) {
	local, dom, err := SplitAddress(address)
	if err != nil {
		return "", "", "", err
	}
	if local == "" && !catchAll {
		return "", "", "", fmt.Errorf("%w: %q has no local part", ErrBadAddress, address)
	}
	di, err := d.domain(ctx, dom)
	if err != nil {
		return "", "", "", err
	}
	if !di.hosted {
		return "", "", "", fmt.Errorf("%s: %w (add it first: ebb domain add %s)", dom, ErrNotHosted, dom)
	}
	return lookupKey(local, di.canonical), local + "@" + di.canonical, di.canonical, nil
}

// AddMailboxWithPassword is ebb user add: mb with password hashed as
// HashPassword does (none when "": the mailbox receives mail but cannot
// log in), returned as stored (the address normalised).
func (d *Directory) AddMailboxWithPassword(ctx context.Context, mb Mailbox, password string) (*Mailbox, error) {
	if password != "" {
		h, err := d.HashPassword(password)
		if err != nil {
			return nil, err
		}
		mb.PasswordHash = h
	}
	if err := d.AddMailbox(ctx, mb); err != nil {
		return nil, err
	}
	return d.Mailbox(ctx, mb.Address)
}

// AddMailbox creates a mailbox. mb.PasswordHash is stored as given ("" means
// no login); use HashPassword for a new password. mb.Address is normalised.
func (d *Directory) AddMailbox(ctx context.Context, mb Mailbox) error {
	return d.insertMailbox(ctx, d.db, mb)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (d *Directory) insertMailbox(ctx context.Context, db execer, mb Mailbox) error {
	key, stored, domain, err := d.mailboxKey(ctx, mb.Address)
	if err != nil {
		return err
	}
	if err := checkMailboxName(stored); err != nil {
		return err
	}
	if err := checkMaildirPath(mb.Maildir); err != nil {
		return err
	}
	if mb.PasswordHash != "" {
		if err := d.policy.Check(mb.PasswordHash); err != nil {
			return fmt.Errorf("mailbox %s: %w", stored, err)
		}
	}
	_, err = db.ExecContext(ctx, d.q(`INSERT INTO mailboxes (lookup, address, domain, password, quota_bytes, quota_messages, enabled, maildir, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		key, stored, domain, mb.PasswordHash, mb.QuotaBytes, mb.QuotaMessages, boolInt(mb.Enabled), mb.Maildir, time.Now().Unix())
	if isUnique(err) {
		return fmt.Errorf("mailbox %s: %w", stored, ErrExists)
	}
	if err != nil {
		return d.dbError("add a mailbox", err)
	}
	d.changed()
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Mailbox returns the mailbox at address (case-insensitive, through a domain
// alias), or an error wrapping ErrNotFound.
func (d *Directory) Mailbox(ctx context.Context, address string) (*Mailbox, error) {
	key, stored, _, err := d.mailboxKey(ctx, address)
	if err != nil {
		return nil, err
	}
	mb, err := d.mailboxByKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if mb == nil {
		return nil, fmt.Errorf("mailbox %s: %w", stored, ErrNotFound)
	}
	return mb, nil
}

// Mailboxes lists the mailboxes of domain, or of every domain when "".
func (d *Directory) Mailboxes(ctx context.Context, domain string) ([]*Mailbox, error) {
	query, args := `SELECT `+mailboxColumns+` FROM mailboxes ORDER BY domain, lookup`, []any{}
	if domain != "" {
		n, err := NormalizeDomain(domain)
		if err != nil {
			return nil, err
		}
		query, args = d.q(`SELECT `+mailboxColumns+` FROM mailboxes WHERE domain = ? ORDER BY lookup`), []any{n}
	}
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, d.dbError("list mailboxes", err)
	}
	defer rows.Close()
	var out []*Mailbox
	for rows.Next() {
		mb, err := scanMailbox(rows)
		if err != nil {
			return nil, d.dbError("list mailboxes", err)
		}
		out = append(out, mb)
	}
	return out, d.dbError("list mailboxes", rows.Err())
}

// updateMailbox runs one UPDATE on the mailbox at address.
func (d *Directory) updateMailbox(ctx context.Context, address, set string, args ...any) error {
	key, stored, _, err := d.mailboxKey(ctx, address)
	if err != nil {
		return err
	}
	r, err := d.db.ExecContext(ctx, d.q(`UPDATE mailboxes SET `+set+` WHERE lookup = ?`), append(args, key)...)
	if err != nil {
		return d.dbError("change a mailbox", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("mailbox %s: %w", stored, ErrNotFound)
	}
	d.changed()
	return nil
}

// SetPassword stores a new argon2id hash of password ("" removes login).
func (d *Directory) SetPassword(ctx context.Context, address, password string) error {
	h := ""
	if password != "" {
		var err error
		if h, err = d.HashPassword(password); err != nil {
			return err
		}
	}
	return d.updateMailbox(ctx, address, `password = ?`, h)
}

// SetQuota sets the quota in bytes and messages (0: the mail.quota default).
func (d *Directory) SetQuota(ctx context.Context, address string, bytes, messages int64) error {
	if bytes < 0 || messages < 0 {
		return errors.New("a quota cannot be negative")
	}
	return d.updateMailbox(ctx, address, `quota_bytes = ?, quota_messages = ?`, bytes, messages)
}

// SetEnabled enables or disables a mailbox. Mail to a disabled mailbox is
// refused permanently; it cannot log in.
func (d *Directory) SetEnabled(ctx context.Context, address string, enabled bool) error {
	return d.updateMailbox(ctx, address, `enabled = ?`, boolInt(enabled))
}

// SetMaildir sets where the mailbox's Maildir is ("": from mail.maildir).
func (d *Directory) SetMaildir(ctx context.Context, address, maildir string) error {
	if err := checkMaildirPath(maildir); err != nil {
		return err
	}
	return d.updateMailbox(ctx, address, `maildir = ?`, maildir)
}

// RemoveMailbox removes a mailbox from the directory and returns it. Its mail
// on disk is left alone.
func (d *Directory) RemoveMailbox(ctx context.Context, address string) (*Mailbox, error) {
	mb, err := d.Mailbox(ctx, address)
	if err != nil {
		return nil, err
	}
	key, _, _, _ := d.mailboxKey(ctx, address)
	if _, err := d.db.ExecContext(ctx, d.q(`DELETE FROM mailboxes WHERE lookup = ?`), key); err != nil {
		return nil, d.dbError("remove a mailbox", err)
	}
	d.changed()
	return mb, nil
}

// aliasKey normalises an alias address; "@domain" is the catch-all.
func (d *Directory) aliasKey(ctx context.Context, address string) (key, stored, domain string, err error) {
	return d.hostedKey(ctx, address, true)
}

// AddAlias adds destinations to the alias at address ("@domain" is the
// domain's catch-all). Destinations may be local or remote addresses.
func (d *Directory) AddAlias(ctx context.Context, address string, destinations ...string) error {
	if len(destinations) == 0 {
		return errors.New("an alias needs at least one destination")
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return d.dbError("add an alias", err)
	}
	defer tx.Rollback()
	if err := d.insertAlias(ctx, tx, address, destinations); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return d.dbError("add an alias", err)
	}
	d.changed()
	return nil
}

func (d *Directory) insertAlias(ctx context.Context, tx execer, address string, destinations []string) error {
	key, stored, domain, err := d.aliasKey(ctx, address)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(stored, "@") { // "@domain" is the catch-all
		if err := checkAddress("alias", stored); err != nil {
			return err
		}
	}
	for _, dest := range destinations {
		n, err := NormalizeAddress(dest)
		if err != nil {
			return fmt.Errorf("destination %q: %w", dest, err)
		}
		if strings.HasPrefix(n, "@") {
			return fmt.Errorf("destination %q: %w: a destination needs a local part", dest, ErrBadAddress)
		}
		if err := checkAddress("destination", n); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, d.q(`INSERT INTO aliases (lookup, address, domain, destination) VALUES (?, ?, ?, ?)`), key, stored, domain, n)
		if isUnique(err) {
			return fmt.Errorf("alias %s → %s: %w", stored, n, ErrExists)
		}
		if err != nil {
			return d.dbError("add an alias", err)
		}
	}
	return nil
}

// RemoveAlias removes destinations from the alias at address, or the whole
// alias when none are given. It returns how many destinations went.
func (d *Directory) RemoveAlias(ctx context.Context, address string, destinations ...string) (int, error) {
	key, stored, _, err := d.aliasKey(ctx, address)
	if err != nil {
		return 0, err
	}
	var r sql.Result
	if len(destinations) == 0 {
		r, err = d.db.ExecContext(ctx, d.q(`DELETE FROM aliases WHERE lookup = ?`), key)
	} else {
		var n int64
		for _, dest := range destinations {
			nd, err2 := NormalizeAddress(dest)
			if err2 != nil {
				return 0, err2
			}
			r, err = d.db.ExecContext(ctx, d.q(`DELETE FROM aliases WHERE lookup = ? AND destination = ?`), key, nd)
			if err != nil {
				break
			}
			c, _ := r.RowsAffected()
			n += c
		}
		if err == nil {
			d.changed()
			if n == 0 {
				return 0, fmt.Errorf("alias %s → %s: %w", stored, strings.Join(destinations, ", "), ErrNotFound)
			}
			return int(n), nil
		}
	}
	if err != nil {
		return 0, d.dbError("remove an alias", err)
	}
	d.changed()
	c, _ := r.RowsAffected()
	if c == 0 {
		return 0, fmt.Errorf("alias %s: %w", stored, ErrNotFound)
	}
	return int(c), nil
}

// Aliases lists the aliases of domain, or of every domain when "".
func (d *Directory) Aliases(ctx context.Context, domain string) ([]Alias, error) {
	query, args := `SELECT address, destination FROM aliases ORDER BY domain, lookup, destination`, []any{}
	if domain != "" {
		n, err := NormalizeDomain(domain)
		if err != nil {
			return nil, err
		}
		query, args = d.q(`SELECT address, destination FROM aliases WHERE domain = ? ORDER BY lookup, destination`), []any{n}
	}
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, d.dbError("list aliases", err)
	}
	defer rows.Close()
	var out []Alias
	for rows.Next() {
		var a, dest string
		if err := rows.Scan(&a, &dest); err != nil {
			return nil, d.dbError("list aliases", err)
		}
		if len(out) > 0 && out[len(out)-1].Address == a {
			out[len(out)-1].Destinations = append(out[len(out)-1].Destinations, dest)
			continue
		}
		out = append(out, Alias{Address: a, Destinations: []string{dest}})
	}
	return out, d.dbError("list aliases", rows.Err())
}

var errNoRows = sql.ErrNoRows

func nowUnix() int64 { return time.Now().Unix() }
