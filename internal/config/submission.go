package config

// Submission is mail submission by users and programs.
type Submission struct {
	Listen          []string `toml:"listen" default:"" doc:"Addresses for submission with STARTTLS (port 587). AUTH is offered only after STARTTLS."`
	ListenTLS       []string `toml:"listen_tls" default:"" doc:"Addresses for submission over implicit TLS (port 465, RFC 8314)."`
	TLSCert         string   `toml:"tls_cert" default:"" doc:"PEM certificate chain for submission. Empty: use smtp.tls_cert."`
	TLSKey          string   `toml:"tls_key" default:"" doc:"PEM private key for submission.tls_cert."`
	TrustedNetworks []string `toml:"trusted_networks" default:"127.0.0.0/8,::1/128" doc:"Networks whose clients may relay without AUTH (CIDR). Keep it to loopback unless you know why."`
}
