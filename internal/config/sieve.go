package config

// Sieve is filtering at delivery.
type Sieve struct {
	Enabled bool `toml:"enabled" default:"true" doc:"Run Sieve scripts at delivery."`
}
