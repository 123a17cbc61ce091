package config

// Metrics is the Prometheus endpoint.
type Metrics struct {
	Listen string `toml:"listen" default:"127.0.0.1:9733" doc:"Address for the Prometheus /metrics endpoint (keep it on loopback). Empty turns it off."`
	Pprof  bool   `toml:"pprof" default:"false" doc:"Also serve Go's profiler under /debug/pprof/ on metrics.listen, to find where a live daemon spends its time. Off by default: a profile costs CPU while it runs, and any local user can reach the metrics port. Needs a restart."`
}
