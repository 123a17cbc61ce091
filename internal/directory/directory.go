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

import "github.com/ebbmail/ebb/internal/resolve"

// The types of a resolution are internal/resolve's, where the one
// implementation of alias resolution lives.
type (
	// Mailbox is a hosted mailbox.
	Mailbox = resolve.Mailbox
	// Resolution is where mail for one address goes.
	Resolution = resolve.Resolution
	// Resolver is the narrow interface that delivery and SMTP use.
	Resolver = resolve.Resolver
	// ChainError is an alias loop or a chain deeper than
	// directory.max_alias_depth.
	ChainError = resolve.ChainError
)
