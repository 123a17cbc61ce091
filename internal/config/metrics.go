package config

// Metrics is the Prometheus endpoint.
type Metrics struct {
	Listen string `toml:"listen" default:"127.0.0.1:9733" doc:"Address for the Prometheus /metrics endpoint (keep it on loopback). Empty turns it off."`
}
