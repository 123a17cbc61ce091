package config

// Submission is mail submission by users and programs.
type Submission struct {
	Listen          []string `toml:"listen" default:"" doc:"Addresses for submission with STARTTLS (port 587). AUTH is offered only after STARTTLS."`
	ListenTLS       []string `toml:"listen_tls" default:"" doc:"Addresses for submission over implicit TLS (port 465, RFC 8314)."`
	TLSCert         string   `toml:"tls_cert" default:"" doc:"PEM certificate chain for submission. Empty: use smtp.tls_cert."`
	TLSKey          string   `toml:"tls_key" default:"" doc:"PEM private key for submission.tls_cert."`
	TrustedNetworks []string `toml:"trusted_networks" default:"127.0.0.0/8,::1/128" doc:"Networks whose clients may send through the submission listeners without AUTH, also to other domains (CIDR). Port 25 never relays. Keep it to loopback unless you know why; ebb doctor warns when it is wider."`
	SenderPolicy    string   `toml:"sender_policy" default:"own" oneof:"exact,own,domain,any" doc:"Which addresses a logged-in user may send as, in MAIL FROM and in the From: and Sender: fields of the message: exact (only the login address), own (the login address and every alias that leads to it), domain (any address in the login's domain), any (no check). Anything else is refused: 553 5.7.1 at MAIL FROM, 550 5.7.1 after DATA for the header (a From: that cannot be read one way only too)."`
	AuthMechanisms  []string `toml:"auth_mechanisms" default:"PLAIN,LOGIN" doc:"SASL mechanisms offered after TLS is up (PLAIN and LOGIN are supported)."`

	AuthFailuresBeforeDelay int      `toml:"auth_failures_before_delay" default:"3" min:"0" doc:"Failed logins from one client IP (or for one account) that are answered at once; each later failure is answered only after a delay (submission.auth_failure_delay times the number of extra failures, at most 30s)."`
	AuthFailureDelay        Duration `toml:"auth_failure_delay" default:"1s" doc:"The delay step for failed logins past submission.auth_failures_before_delay."`
	AuthMaxFailuresPerIP    int      `toml:"auth_max_failures_per_ip" default:"10" min:"1" doc:"After this many failed logins within submission.auth_failure_window, a client IP is refused (454 4.7.0) until its failures age out. Logged with the IP and the account."`
	AuthMaxFailuresPerUser  int      `toml:"auth_max_failures_per_account" default:"30" min:"1" doc:"An account's budget of failed logins within submission.auth_failure_window, over all sources. Once spent, logins for it are refused (454 4.7.0, no password checked) from every source it has not logged in from within submission.auth_familiar_for, until the failures age out; sources it logged in from have a budget of their own, so a guesser cannot lock the owner out there. Unknown accounts are counted alike. A wrong password repeated (a client with an old one) counts only once."`
	AuthMaxFailuresPerDay   int      `toml:"auth_max_failures_per_account_day" default:"100" min:"0" doc:"The same budget over 24 hours: a guesser that rotates addresses gets at most this many passwords checked per account and day (0: no daily budget)."`
	AuthFamiliarFor         Duration `toml:"auth_familiar_for" default:"30d" min:"0s" doc:"How long a source (an IPv4 address, an IPv6 /64) that an account logged in from stays familiar to it, keeping its own failure budget when the account's is spent. 0: no source is familiar."`
	AuthFailureWindow       Duration `toml:"auth_failure_window" default:"15m" doc:"How long a failed login counts against its IP and account."`
	MaxSessionTime          Duration `toml:"max_session_time" default:"1h" doc:"The longest a submission connection may last, whatever it does; with a line having to finish within smtp.command_timeout (or smtp.data_timeout) of the previous one, a slow client cannot hold a connection slot. Connections per IP are limited by smtp.max_connections_per_ip."`
	MaxMessagesPerIP        int      `toml:"max_messages_per_ip" default:"0" min:"0" doc:"The most messages one client (an IPv4 address, or an IPv6 /64) may submit per hour (0: no limit)."`
	MaxMessagesPerUser      int      `toml:"max_messages_per_account" default:"0" min:"0" doc:"The most messages one logged-in account may submit per hour (0: no limit); a compromised password then sends a bounded amount of spam."`
}
