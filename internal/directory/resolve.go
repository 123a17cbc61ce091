package directory

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
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

// Resolve returns where mail for address goes. The order, for an address in
// a hosted domain (after a domain alias is replaced by its target):
//
//  1. an alias for the exact address (it wins over a mailbox of that name,
//     as in Postfix virtual_alias_maps; an alias may list itself to keep a
//     copy in its own mailbox);
//  2. the mailbox of that address;
//  3. with a subaddress (alice+tag@, directory.subaddress_separator), 1 and
//     2 for the address without the detail;
//  4. the domain's catch-all (the alias "@domain");
//  5. nothing: Unknown().
//
// Destinations of aliases resolve the same way, recursively; one outside
// the hosted domains is a forward. An alias loop, or a chain longer than
// directory.max_alias_depth, is a permanent *diag.Error naming the chain.
func (d *Directory) Resolve(ctx context.Context, address string) (*Resolution, error) {
	local, domain, err := SplitAddress(address)
	if err != nil {
		e := diag.New("parse", "resolve", address, err)
		e.Class, e.Exit = diag.Permanent, diag.ExDataErr
		e.SMTPCode, e.Enhanced, e.Public = 501, [3]int{5, 1, 3}, "Bad recipient address syntax"
		return nil, e
	}
	addr := local + "@" + domain
	if r, ok := d.resolved.get(addr); ok {
		return r.clone(), nil
	}
	r := &Resolution{Address: addr}
	w := walk{d: d, r: r, seenMailbox: map[string]bool{}, seenForward: map[string]bool{}}
	if err := w.expand(ctx, local, domain, nil, true); err != nil {
		var ce *ChainError
		if errors.As(err, &ce) {
			e := diag.New("loop", "resolve", addr, err)
			e.Class, e.Exit = diag.Permanent, diag.ExDataErr
			e.SMTPCode, e.Enhanced, e.Public = 554, [3]int{5, 4, 6}, "Routing loop detected in the recipient's aliases"
			e.Hint = "fix the aliases on the chain (ebb alias list, ebb alias remove)"
			return nil, e
		}
		return nil, err
	}
	if r.Unknown() && strings.EqualFold(local, "postmaster") {
		if err := w.postmaster(ctx, domain); err != nil {
			return nil, err
		}
	}
	d.resolved.put(addr, r)
	return r.clone(), nil
}

// postmaster resolves postmaster@domain when the domain has neither
// mailbox nor alias of that name: RFC 5321 §4.5.1 makes every domain take
// it. It goes to directory.postmaster, or else to postmaster@ the domain
// added first (the host's own), when that is not this one.
func (w *walk) postmaster(ctx context.Context, domain string) error {
	target := w.d.cfg.Postmaster
	if target == "" {
		first, err := w.d.FirstDomain(ctx)
		if err != nil || first == "" {
			return err
		}
		target = "postmaster@" + first
	}
	l, dom, err := SplitAddress(target)
	if err != nil {
		return nil // refused when the setting was checked; nothing to add
	}
	if lookupKey(l, dom) == lookupKey("postmaster", domain) {
		return nil
	}
	w.addChain(lookupKey(l, dom))
	return w.expand(ctx, l, dom, []string{lookupKey("postmaster", domain)}, false)
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

// clone copies the slices, so that a caller changing its Resolution does not
// change the cached one. Mailboxes are shared: treat them as read-only.
func (r *Resolution) clone() *Resolution {
	c := *r
	c.Mailboxes = slices.Clone(r.Mailboxes)
	c.Forwards = slices.Clone(r.Forwards)
	c.Chain = slices.Clone(r.Chain)
	return &c
}

// walk is one resolution in progress.
type walk struct {
	d           *Directory
	r           *Resolution
	seenMailbox map[string]bool
	seenForward map[string]bool
}

func (w *walk) addChain(a string) {
	if !slices.Contains(w.r.Chain, a) {
		w.r.Chain = append(w.r.Chain, a)
	}
}

// expand resolves local@domain; path is the chain of aliases that led here.
func (w *walk) expand(ctx context.Context, local, domain string, path []string, top bool) error {
	d := w.d
	// One query fetches the domain and everything the steps below may need
	// (the address, its subaddress base, the catch-all): a WAL read
	// transaction costs file locks, so one beats three.
	keys := d.candidateKeys(local, domain)
	di, ents, err := d.fetch(ctx, domain, keys)
	if err != nil {
		return err
	}
	if !di.hosted {
		if !top {
			a := local + "@" + domain
			if !w.seenForward[a] {
				w.seenForward[a] = true
				w.r.Forwards = append(w.r.Forwards, a)
			}
		}
		return nil
	}
	if di.canonical != domain {
		// A domain alias: look again under the target domain.
		keys = d.candidateKeys(local, di.canonical)
		if _, ents, err = d.fetch(ctx, di.canonical, keys); err != nil {
			return err
		}
	}
	key := keys[0]
	if slices.Contains(path, key) {
		return &ChainError{Kind: ErrAliasLoop, Chain: append(slices.Clone(path), key)}
	}
	if len(path) > d.cfg.MaxAliasDepth {
		return &ChainError{Kind: ErrAliasTooDeep, Chain: append(slices.Clone(path), key), Max: d.cfg.MaxAliasDepth}
	}
	if top {
		w.addChain(key)
	}
	found, err := w.exact(ctx, key, ents[key], path)
	if err != nil || found {
		return err
	}
	if sep := d.cfg.SubaddressSeparator; sep != "" {
		if i := strings.Index(local, sep); i > 0 {
			found, err := w.exact(ctx, keys[1], ents[keys[1]], path)
			if err != nil {
				return err
			}
			if found {
				if top {
					w.r.Detail = local[i+len(sep):]
				}
				return nil
			}
		}
	}
	// The catch-all: the alias "@domain".
	_, err = w.exact(ctx, keys[2], ents[keys[2]], path)
	return err
}

// candidateKeys are the lookup keys one resolution step may need: the
// address, the address without its subaddress detail, and the catch-all.
func (d *Directory) candidateKeys(local, domain string) [3]string {
	k := lookupKey(local, domain)
	base := k
	if sep := d.cfg.SubaddressSeparator; sep != "" {
		if i := strings.Index(local, sep); i > 0 {
			base = lookupKey(local[:i], domain)
		}
	}
	return [3]string{k, base, "@" + domain}
}

// entry is what is stored under one lookup key: alias destinations, a
// mailbox, or neither.
type entry struct {
	dests []string
	mb    *Mailbox
}

// fetchQuery reads, in one round trip, the domain row and the aliases and
// mailboxes stored under three lookup keys.
const fetchQuery = `SELECT 0, lookup, destination, '', 0, 0, 0, '' FROM aliases WHERE lookup IN (?, ?, ?)
	UNION ALL
	SELECT 1, lookup, address, password, quota_bytes, quota_messages, enabled, maildir FROM mailboxes WHERE lookup IN (?, ?, ?)
	UNION ALL
	SELECT 2, name, alias_of, '', 0, 0, 0, '' FROM domains WHERE name = ?`

func (d *Directory) fetch(ctx context.Context, domain string, keys [3]string) (domainInfo, map[string]*entry, error) {
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
	ents := map[string]*entry{}
	get := func(k string) *entry {
		e := ents[k]
		if e == nil {
			e = &entry{}
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
			e.dests = append(e.dests, m.Address)
		case 1:
			m.Enabled = enabled != 0
			get(key).mb = &m
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
		slices.Sort(e.dests)
	}
	d.domains.put(domain, di)
	return di, ents, nil
}

// exact follows the alias or mailbox stored under key.
func (w *walk) exact(ctx context.Context, key string, e *entry, path []string) (bool, error) {
	if e == nil {
		return false, nil
	}
	if len(e.dests) > 0 {
		w.addChain(key)
		next := append(slices.Clone(path), key)
		for _, dest := range e.dests {
			if strings.EqualFold(dest, key) {
				// An alias that lists itself keeps a copy in its own
				// mailbox: not a loop.
				w.addMailbox(key, e.mb)
				continue
			}
			l, dom, err := SplitAddress(dest)
			if err != nil {
				continue // refused when the alias was added
			}
			w.addChain(l + "@" + dom)
			if err := w.expand(ctx, l, dom, next, false); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	return w.addMailbox(key, e.mb), nil
}

func (w *walk) addMailbox(key string, mb *Mailbox) bool {
	if mb == nil {
		return false
	}
	if !w.seenMailbox[key] {
		w.seenMailbox[key] = true
		w.r.Mailboxes = append(w.r.Mailboxes, mb)
	}
	return true
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
