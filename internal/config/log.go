package config

// Log is logging.
type Log struct {
	Format string `toml:"format" default:"logfmt" oneof:"logfmt,json" doc:"The log line format."`
	Level  string `toml:"level" default:"info" oneof:"debug,info,warn,error" doc:"The least severe level that is logged."`
}
