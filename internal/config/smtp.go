package config

// SMTP is inbound SMTP for the hosted domains.
type SMTP struct {
	Listen          []string `toml:"listen" default:"0.0.0.0:25" doc:"Addresses for inbound SMTP (host:port). An empty list turns inbound SMTP off."`
	MaxMessageSize  Size     `toml:"max_message_size" default:"50M" doc:"The largest message accepted (advertised with SIZE)."`
	MaxRecipients   int      `toml:"max_recipients" default:"100" min:"1" doc:"The most recipients in one transaction."`
	MaxConnections  int      `toml:"max_connections" default:"200" min:"1" doc:"The most SMTP connections at once, over all clients."`
	MaxPerIP        int      `toml:"max_connections_per_ip" default:"20" min:"1" doc:"The most SMTP connections at once from one client: an IPv4 address, or an IPv6 /64 (one host commonly has a whole /64)."`
	Reserved        int      `toml:"reserved_connections" default:"20" min:"0" doc:"Of smtp.max_connections (counted over every listener, submission included), this many are kept for clients in submission.trusted_networks, so that a flood of idle connections from elsewhere cannot lock out local submission."`
	CommandTimeout  Duration `toml:"command_timeout" default:"5m" doc:"How long to wait for the client's next command (RFC 5321 4.5.3.2.7 asks for at least 5 minutes)."`
	DataTimeout     Duration `toml:"data_timeout" default:"10m" doc:"How long to wait for the next piece of the message during DATA (RFC 5321 4.5.3.2.5: 3 minutes at least)."`
	MaxSessionTime  Duration `toml:"max_session_time" default:"1h" doc:"The longest an inbound SMTP connection may last, whatever it does. With each line having to finish within smtp.command_timeout (or smtp.data_timeout) of the previous one, a slow client (slowloris) cannot hold a connection slot."`
	TLSCert         string   `toml:"tls_cert" default:"" doc:"PEM certificate chain for STARTTLS. Empty: no STARTTLS."`
	TLSKey          string   `toml:"tls_key" default:"" doc:"PEM private key for smtp.tls_cert."`
	ShutdownTimeout Duration `toml:"shutdown_timeout" default:"30s" doc:"On SIGTERM, how long messages being received may still finish (their clients get their 250) before the remaining connections are cut; a cut client got no 250 and sends again."`
}
