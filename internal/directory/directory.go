// Package directory holds the hosted domains, mailboxes and aliases, and
// resolves an address to where its mail goes. SQLite (embedded, the default)
// and PostgreSQL share one schema and one test suite (directorytest).
//
// API (see docs/directory.md for the model):
//
//	d, err := directory.Open(ctx, cfg)   // *Directory; migrates the schema
//	defer d.Close()
//	d.Resolve(ctx, "alice+tag@example.com") // Resolver: *Resolution
//	d.IsLocalDomain(ctx, "bücher.example")  // Resolver
//	d.Authenticate(ctx, address, password) // SMTP AUTH: *Mailbox or ErrAuthFailed
//
//	// Administration (the ebb domain/user/alias/import commands):
//	d.AddDomain(ctx, "example.com"); d.AddDomainAlias(ctx, "example.org", "example.com")
//	d.Domains(ctx); d.RemoveDomain(ctx, name, force)
//	d.AddMailbox(ctx, directory.Mailbox{Address: "demo@example.test", Enabled: true})
//	d.SetPassword / SetQuota / SetEnabled / SetMaildir / Mailbox / Mailboxes / RemoveMailbox
//	d.AddAlias(ctx, "team@example.com", "a@example.com", "b@remote.example")
//	d.AddAlias(ctx, "@example.com", "postmaster@example.com") // the catch-all
//	d.Aliases(ctx, domain); d.RemoveAlias(ctx, address, destinations...)
//	d.ParseDovecotPasswd / ParseCSV → *ImportPlan; d.Import(ctx, plan, dryRun)
//	d.Migrate(ctx); d.CurrentVersion(ctx); SchemaVersion()
//
// Every error that comes from the database is a *diag.Error, temporary, that
// names the database (the SQLite file, or host:port/dbname) and the cause.
// Admin mistakes (exists, not found, not hosted) wrap the Err* values here.
// Resolutions are cached for directory.cache_ttl (default 5s).
package directory

import "context"

// Mailbox is a hosted mailbox.
type Mailbox struct {
	Address       string // local@domain, domain in lower-case ASCII
	PasswordHash  string // e.g. {ARGON2ID}$argon2id$...
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
