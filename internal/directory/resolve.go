package directory

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/ebbmail/ebb/internal/resolve"
)

// domainInfo is what the domains table says about one name.
type domainInfo struct {
	hosted    bool
	canonical string // the domain itself, or the target of a domain alias
}

const domainQuery = `SELECT alias_of FROM domains WHERE name = ?`

// stmt returns the prepared form of a hot query: lookups skip parsing and
// planning (database/sql re-prepares it on each pooled connection as needed).
func (d *Directory) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := d.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := d.db.PrepareContext(ctx, d.q(query))
	if err != nil {
		return nil, d.dbError("lookup", err)
	}
	if prev, loaded := d.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// domain looks a normalised domain up, through the cache.
func (d *Directory) domain(ctx context.Context, name string) (domainInfo, error) {
	if di, ok := d.domains.get(name); ok {
		return di, nil
	}
	st, err := d.stmt(ctx, domainQuery)
	if err != nil {
		return domainInfo{}, err
	}
	var aliasOf string
	err = st.QueryRowContext(ctx, name).Scan(&aliasOf)
	di := domainInfo{}
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return di, d.dbError("lookup", err)
	default:
		di = domainInfo{hosted: true, canonical: name}
		if aliasOf != "" {
			di.canonical = aliasOf
		}
	}
	d.domains.put(name, di)
	return di, nil
}

// IsLocalDomain reports whether ebb hosts domain (or a domain alias of one).
// UTF-8 and punycode spellings are the same domain.
func (d *Directory) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	name, err := NormalizeDomain(domain)
	if err != nil {
		return false, nil
	}
	di, err := d.domain(ctx, name)
	return di.hosted, err
}

// Resolve returns where mail for address goes (resolve.Resolve, the one
// implementation, over this directory's rows), through the cache.
func (d *Directory) Resolve(ctx context.Context, address string) (*Resolution, error) {
	if local, domain, err := SplitAddress(address); err == nil {
		if r, ok := d.resolved.get(local + "@" + domain); ok {
			return r.Clone(), nil
		}
	}
	r, err := resolve.Resolve(ctx, sqlSource{d}, resolve.OptionsOf(d.cfg), address)
	if err != nil {
		return nil, err
	}
	d.resolved.put(r.Address, r)
	return r.Clone(), nil
}

// sqlSource is the directory's tables as resolve.Source.
type sqlSource struct{ d *Directory }

func (s sqlSource) FirstDomain(ctx context.Context) (string, error) { return s.d.FirstDomain(ctx) }

func (s sqlSource) Fetch(ctx context.Context, domain string, keys [3]string) (resolve.Domain, map[string]*resolve.Entry, error) {
	di, ents, err := s.d.fetch(ctx, domain, keys)
	return resolve.Domain{Hosted: di.hosted, Canonical: di.canonical}, ents, err
}

// FirstDomain is the hosted domain (not a domain alias) added first: the
// host's own, whose postmaster is also the domainless one of RFC 5321
// §4.1.1.3 (RCPT TO:<Postmaster>). "" when no domain is hosted.
func (d *Directory) FirstDomain(ctx context.Context) (string, error) {
	var name string
	err := d.db.QueryRowContext(ctx, d.q(`SELECT name FROM domains WHERE alias_of = '' ORDER BY created, name LIMIT 1`)).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", d.dbError("lookup", err)
	}
	return name, nil
}

// fetchQuery reads, in one round trip, the domain row and the aliases and
// mailboxes stored under three lookup keys.
const fetchQuery = `SELECT 0, lookup, destination, '', 0, 0, 0, '' FROM aliases WHERE lookup IN (?, ?, ?)
	UNION ALL
	SELECT 1, lookup, address, password, quota_bytes, quota_messages, enabled, maildir FROM mailboxes WHERE lookup IN (?, ?, ?)
	UNION ALL
	SELECT 2, name, alias_of, '', 0, 0, 0, '' FROM domains WHERE name = ?`

func (d *Directory) fetch(ctx context.Context, domain string, keys [3]string) (domainInfo, map[string]*resolve.Entry, error) {
	st, err := d.stmt(ctx, fetchQuery)
	if err != nil {
		return domainInfo{}, nil, err
	}
	rows, err := st.QueryContext(ctx, keys[0], keys[1], keys[2], keys[0], keys[1], keys[2], domain)
	if err != nil {
		return domainInfo{}, nil, d.dbError("lookup", err)
	}
	defer rows.Close()
	di := domainInfo{}
	ents := map[string]*resolve.Entry{}
	get := func(k string) *resolve.Entry {
		e := ents[k]
		if e == nil {
			e = &resolve.Entry{}
			ents[k] = e
		}
		return e
	}
	for rows.Next() {
		var kind, enabled int
		var key string
		var m Mailbox
		if err := rows.Scan(&kind, &key, &m.Address, &m.PasswordHash, &m.QuotaBytes, &m.QuotaMessages, &enabled, &m.Maildir); err != nil {
			return domainInfo{}, nil, d.dbError("lookup", err)
		}
		switch kind {
		case 0:
			e := get(key)
			e.Dests = append(e.Dests, m.Address)
		case 1:
			m.Enabled = enabled != 0
			get(key).Mailbox = &m
		case 2:
			di = domainInfo{hosted: true, canonical: domain}
			if m.Address != "" {
				di.canonical = m.Address
			}
		}
	}
	if err := rows.Err(); err != nil {
		return domainInfo{}, nil, d.dbError("lookup", err)
	}
	for _, e := range ents {
		slices.Sort(e.Dests)
	}
	d.domains.put(domain, di)
	return di, ents, nil
}

const mailboxColumns = `address, password, quota_bytes, quota_messages, enabled, maildir`

func scanMailbox(sc interface{ Scan(...any) error }) (*Mailbox, error) {
	mb := &Mailbox{}
	var enabled int
	if err := sc.Scan(&mb.Address, &mb.PasswordHash, &mb.QuotaBytes, &mb.QuotaMessages, &enabled, &mb.Maildir); err != nil {
		return nil, err
	}
	mb.Enabled = enabled != 0
	return mb, nil
}

func (d *Directory) mailboxByKey(ctx context.Context, key string) (*Mailbox, error) {
	row := d.db.QueryRowContext(ctx, d.q(`SELECT `+mailboxColumns+` FROM mailboxes WHERE lookup = ?`), key)
	mb, err := scanMailbox(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, d.dbError("lookup", err)
	}
	return mb, nil
}
