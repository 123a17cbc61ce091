// Package resolve says where mail for an address goes: the one
// implementation of alias resolution (aliases, subaddresses, catch-alls,
// domain aliases, the postmaster of RFC 5321 §4.5.1), over any Source of
// the directory's rows. Two sources exist: the SQL directory
// (internal/directory, SQLite or PostgreSQL), and the delivery map, a cdb
// file the directory rewrites on every change (map.go), from which the
// one-message delivery agent ebb-deliver resolves without linking SQLite
// (issue 28; Postfix's postmap model, with a stale map detected and not
// used).
//
// The types here (Mailbox, Resolution, Resolver) are the directory's; it
// keeps their names (directory.Mailbox is resolve.Mailbox).
package resolve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// Mailbox is a hosted mailbox.
type Mailbox struct {
	Address       string // local@domain, domain in lower-case ASCII
	PasswordHash  string // e.g. {ARGON2ID}$argon2id$... ("" from the delivery map, which holds no secret)
	QuotaBytes    int64  // 0: the default (mail.quota)
	QuotaMessages int64  // 0: the default (mail.quota_messages)
	Enabled       bool
	Maildir       string // "" derives it from mail.maildir
}

// Resolution is where mail for one address goes.
type Resolution struct {
	// Address is what was asked, normalised.
	Address string
	// Mailboxes are the local mailboxes reached (after aliases, subaddress,
	// catch-all, domain aliases), without duplicates.
	Mailboxes []*Mailbox
	// Detail is the subaddress detail of the asked address ("tag" for
	// alice+tag@), for Sieve and for -m style folder choice.
	Detail string
	// Forwards are remote addresses reached through aliases.
	Forwards []string
	// Chain is the path through aliases, for messages and loop errors.
	Chain []string
}

// Unknown reports whether the address reached nothing.
func (r *Resolution) Unknown() bool { return len(r.Mailboxes) == 0 && len(r.Forwards) == 0 }

// Clone copies the slices, so that a caller changing its Resolution does
// not change a cached one. Mailboxes are shared: treat them as read-only.
func (r *Resolution) Clone() *Resolution {
	c := *r
	c.Mailboxes = slices.Clone(r.Mailboxes)
	c.Forwards = slices.Clone(r.Forwards)
	c.Chain = slices.Clone(r.Chain)
	return &c
}

// Resolver is the narrow interface that delivery and SMTP use.
type Resolver interface {
	// Resolve returns where mail for address goes. An address in a hosted
	// domain that reaches nothing is a Resolution with Unknown() true, not an
	// error. Errors are for trouble reaching the database, and for alias
	// loops and chains deeper than directory.max_alias_depth.
	Resolve(ctx context.Context, address string) (*Resolution, error)
	// IsLocalDomain reports whether ebb hosts the domain (or a domain alias).
	IsLocalDomain(ctx context.Context, domain string) (bool, error)
}

// Domain is what the directory says about one domain name.
type Domain struct {
	Hosted    bool
	Canonical string // the domain itself, or the target of a domain alias
}

// Entry is what is stored under one lookup key (LookupKey, or "@domain"
// for the catch-all): alias destinations, a mailbox, or neither.
type Entry struct {
	Dests   []string // sorted
	Mailbox *Mailbox
}

// Source is where the rows come from.
type Source interface {
	// Fetch returns the domain's row and the entries stored under keys
	// (CandidateKeys), in one round trip where the source has trips.
	Fetch(ctx context.Context, domain string, keys [3]string) (Domain, map[string]*Entry, error)
	// FirstDomain is the hosted domain (not a domain alias) added first:
	// the host's own. "" when none is.
	FirstDomain(ctx context.Context) (string, error)
}

// Options are the directory settings resolution follows.
type Options struct {
	SubaddressSeparator string // directory.subaddress_separator
	MaxAliasDepth       int    // directory.max_alias_depth
	Postmaster          string // directory.postmaster
}

// OptionsOf reads them from the config.
func OptionsOf(c config.Directory) Options {
	return Options{SubaddressSeparator: c.SubaddressSeparator, MaxAliasDepth: c.MaxAliasDepth, Postmaster: c.Postmaster}
}

var (
	ErrAliasLoop    = errors.New("alias loop")
	ErrAliasTooDeep = errors.New("alias chain too deep")
)

// ChainError is an alias loop or a chain deeper than directory.max_alias_depth;
// Chain is the path that was followed, ending where it turned back or stopped.
type ChainError struct {
	Kind  error // ErrAliasLoop or ErrAliasTooDeep
	Chain []string
	Max   int
}

func (e *ChainError) Error() string {
	if e.Kind == ErrAliasTooDeep {
		return fmt.Sprintf("alias chain deeper than directory.max_alias_depth (%d): %s", e.Max, strings.Join(e.Chain, " → "))
	}
	return "alias loop: " + strings.Join(e.Chain, " → ")
}

func (e *ChainError) Unwrap() error { return e.Kind }

// Resolve returns where mail for address goes, reading src. The order, for
// an address in a hosted domain (after a domain alias is replaced by its
// target):
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
// directory.max_alias_depth, is a permanent *diag.Error naming the chain;
// an address that does not parse, a permanent 501 5.1.3.
func Resolve(ctx context.Context, src Source, opt Options, address string) (*Resolution, error) {
	local, domain, err := SplitAddress(address)
	if err != nil {
		e := diag.New("parse", "resolve", address, err)
		e.Class, e.Exit = diag.Permanent, diag.ExDataErr
		e.SMTPCode, e.Enhanced, e.Public = 501, [3]int{5, 1, 3}, "Bad recipient address syntax"
		return nil, e
	}
	addr := local + "@" + domain
	r := &Resolution{Address: addr}
	w := walk{src: src, opt: opt, r: r, seenMailbox: map[string]bool{}, seenForward: map[string]bool{}}
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
	return r, nil
}

// CandidateKeys are the lookup keys one resolution step may need: the
// address, the address without its subaddress detail, and the catch-all.
func CandidateKeys(opt Options, local, domain string) [3]string {
	k := LookupKey(local, domain)
	base := k
	if sep := opt.SubaddressSeparator; sep != "" {
		if i := strings.Index(local, sep); i > 0 {
			base = LookupKey(local[:i], domain)
		}
	}
	return [3]string{k, base, "@" + domain}
}

// walk is one resolution in progress.
type walk struct {
	src         Source
	opt         Options
	r           *Resolution
	seenMailbox map[string]bool
	seenForward map[string]bool
}

func (w *walk) addChain(a string) {
	if !slices.Contains(w.r.Chain, a) {
		w.r.Chain = append(w.r.Chain, a)
	}
}

// postmaster resolves postmaster@domain when the domain has neither
// mailbox nor alias of that name: RFC 5321 §4.5.1 makes every domain take
// it. It goes to directory.postmaster, or else to postmaster@ the domain
// added first (the host's own), when that is not this one.
func (w *walk) postmaster(ctx context.Context, domain string) error {
	target := w.opt.Postmaster
	if target == "" {
		first, err := w.src.FirstDomain(ctx)
		if err != nil || first == "" {
			return err
		}
		target = "postmaster@" + first
	}
	l, dom, err := SplitAddress(target)
	if err != nil {
		return nil // refused when the setting was checked; nothing to add
	}
	if LookupKey(l, dom) == LookupKey("postmaster", domain) {
		return nil
	}
	w.addChain(LookupKey(l, dom))
	return w.expand(ctx, l, dom, []string{LookupKey("postmaster", domain)}, false)
}

// expand resolves local@domain; path is the chain of aliases that led here.
func (w *walk) expand(ctx context.Context, local, domain string, path []string, top bool) error {
	// One fetch gets the domain and everything the steps below may need
	// (the address, its subaddress base, the catch-all): a WAL read
	// transaction costs file locks, so one beats three.
	keys := CandidateKeys(w.opt, local, domain)
	di, ents, err := w.src.Fetch(ctx, domain, keys)
	if err != nil {
		return err
	}
	if !di.Hosted {
		if !top {
			a := local + "@" + domain
			if !w.seenForward[a] {
				w.seenForward[a] = true
				w.r.Forwards = append(w.r.Forwards, a)
			}
		}
		return nil
	}
	if di.Canonical != domain {
		// A domain alias: look again under the target domain.
		keys = CandidateKeys(w.opt, local, di.Canonical)
		if _, ents, err = w.src.Fetch(ctx, di.Canonical, keys); err != nil {
			return err
		}
	}
	key := keys[0]
	if slices.Contains(path, key) {
		return &ChainError{Kind: ErrAliasLoop, Chain: append(slices.Clone(path), key)}
	}
	if len(path) > w.opt.MaxAliasDepth {
		return &ChainError{Kind: ErrAliasTooDeep, Chain: append(slices.Clone(path), key), Max: w.opt.MaxAliasDepth}
	}
	if top {
		w.addChain(key)
	}
	found, err := w.exact(ctx, key, ents[key], path)
	if err != nil || found {
		return err
	}
	if sep := w.opt.SubaddressSeparator; sep != "" {
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

// exact follows the alias or mailbox stored under key.
func (w *walk) exact(ctx context.Context, key string, e *Entry, path []string) (bool, error) {
	if e == nil {
		return false, nil
	}
	if len(e.Dests) > 0 {
		w.addChain(key)
		next := append(slices.Clone(path), key)
		for _, dest := range e.Dests {
			if strings.EqualFold(dest, key) {
				// An alias that lists itself keeps a copy in its own
				// mailbox: not a loop.
				w.addMailbox(key, e.Mailbox)
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
	return w.addMailbox(key, e.Mailbox), nil
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
