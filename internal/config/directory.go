package config

// Directory is where hosted domains, mailboxes and aliases are kept.
type Directory struct {
	DSN                 string `toml:"dsn" default:"" doc:"The directory database. Empty: SQLite in server.data_dir/directory.db. sqlite:/path/file.db for another SQLite file, or postgres://user:password@host:port/db for PostgreSQL shared by several ebb hosts."`
	SubaddressSeparator string `toml:"subaddress_separator" default:"+" doc:"The separator between the user and the detail in a local part (alice+tag@): mail to alice+tag@ reaches alice. Empty turns subaddressing off."`
	MaxAliasDepth       int    `toml:"max_alias_depth" default:"10" min:"1" doc:"How many aliases one address may pass through before the resolution is refused as a loop."`
}
