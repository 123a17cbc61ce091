package config

// Scan is spam and virus scanning at SMTP time, after DATA and before the
// reply (internal/scan). A scanner with an empty address is not used.
type Scan struct {
	Parallel        bool     `toml:"parallel" default:"true" doc:"Run the configured scanners at the same time (true) or one after another in the order clamd, milters, spamd, rspamd, stopping at the first refusal (false)."`
	TotalTimeout    Duration `toml:"total_timeout" default:"60s" doc:"The longest all scanners together may take for one message; a scanner still running then counts as failed (cause timeout) and its failure policy decides. Keep it below the client's DATA timeout (RFC 5321 §4.5.3.2.6: 10 minutes)."`
	BreakerFailures int      `toml:"breaker_failures" default:"3" min:"0" doc:"After this many failures in a row (down, timeout, protocol error) a scanner is not asked for scan.breaker_interval: messages get its failure policy at once instead of waiting for a timeout each. 0: never."`
	BreakerInterval Duration `toml:"breaker_interval" default:"30s" doc:"How long an open circuit breaker skips its scanner before one message tries it again."`

	Submission ScanSubmission `toml:"submission" doc:"Scanning of mail that logged-in users send (submission with AUTH)."`
	Clamd      ScanClamd      `toml:"clamd" doc:"ClamAV's clamd, over its own protocol (zINSTREAM)."`
	Spamd      ScanSpamd      `toml:"spamd" doc:"SpamAssassin's spamd, over SPAMC/1.5."`
	Rspamd     ScanRspamd     `toml:"rspamd" doc:"rspamd's normal worker, over HTTP (/checkv2)."`
	Milter     ScanMilter     `toml:"milter" doc:"Milters (Sendmail milter protocol v6): clamav-milter, opendkim, spamass-milter, rspamd's proxy."`
}

// ScanSubmission chooses which scanners see mail from logged-in users.
type ScanSubmission struct {
	Virus  bool `toml:"virus" default:"true" doc:"Scan authenticated submissions for viruses (clamd)."`
	Spam   bool `toml:"spam" default:"false" doc:"Scan authenticated submissions for spam (spamd, rspamd). Off by default: the sender is known, and a user's own mail scored as spam helps no one."`
	Milter bool `toml:"milter" default:"true" doc:"Pass authenticated submissions through the milters."`
}

// ScanClamd is the clamd client.
type ScanClamd struct {
	Address   string   `toml:"address" default:"" doc:"clamd's TCPSocket as host:port, or its LocalSocket as an absolute path. Empty: no virus scanning by clamd."`
	Timeout   Duration `toml:"timeout" default:"60s" doc:"The longest one scan may take, connect to verdict."`
	MaxSize   Size     `toml:"max_size" default:"25M" doc:"Messages larger than this are not sent to clamd: the coverage header and log say skipped, with this limit, never clean. Keep it at or below clamd's StreamMaxLength; ebb doctor compares them."`
	OnFailure string   `toml:"on_failure" default:"tempfail" oneof:"tempfail,accept,reject" doc:"What a message gets when clamd cannot answer (down, timeout, protocol error, over clamd's own limit): tempfail (451, the sender retries), accept (delivered, marked not scanned in the header, log and metrics) or reject (554)."`
	Config    string   `toml:"config" default:"/etc/clamav/clamd.conf" doc:"clamd's own config file, read by ebb doctor to compare StreamMaxLength with scan.clamd.max_size. Empty: not read."`
}

// ScanSpamd is the SpamAssassin client.
type ScanSpamd struct {
	Address     string   `toml:"address" default:"" doc:"spamd's address as host:port, or an absolute path for its Unix socket. Empty: no spam scanning by spamd."`
	Timeout     Duration `toml:"timeout" default:"30s" doc:"The longest one check may take, connect to verdict."`
	MaxSize     Size     `toml:"max_size" default:"10M" doc:"Messages larger than this are not sent to spamd (spamc's own default is 500K and it passes bigger mail on silently); ebb marks them skipped, with this limit."`
	OnFailure   string   `toml:"on_failure" default:"accept" oneof:"tempfail,accept,reject" doc:"What a message gets when spamd cannot answer: accept (the default for spam: delivered and marked not scanned), tempfail (451) or reject (554)."`
	RejectScore float64  `toml:"reject_score" default:"15" min:"0" doc:"A SpamAssassin score at or above this is refused with 550 5.7.1; between spamd's required score and this the message is tagged (X-Spam-Flag: YES). 0: never refuse, only tag."`
	User        string   `toml:"user" default:"" doc:"The User header sent to spamd, for its per-user preferences. Empty: none."`
}

// ScanRspamd is the rspamd client.
type ScanRspamd struct {
	Address   string   `toml:"address" default:"" doc:"rspamd's normal worker as host:port (it listens on 11333 by default). Empty: rspamd is not used."`
	Timeout   Duration `toml:"timeout" default:"30s" doc:"The longest one check may take, connect to verdict."`
	MaxSize   Size     `toml:"max_size" default:"10M" doc:"Messages larger than this are not sent to rspamd; marked skipped, with this limit. Keep it at or below rspamd's max_message (50M by default)."`
	OnFailure string   `toml:"on_failure" default:"accept" oneof:"tempfail,accept,reject" doc:"What a message gets when rspamd cannot answer: accept, tempfail (451) or reject (554)."`
	Password  string   `toml:"password" default:"" doc:"The Password header, needed only when scan.rspamd.address is the controller worker."`
}

// ScanMilter is the milter client.
type ScanMilter struct {
	Addresses []string `toml:"addresses" default:"" doc:"Milters in the order they are asked, as inet:port@host, inet:host:port or unix:/path (Postfix and Sendmail spellings). Empty: none."`
	Timeout   Duration `toml:"timeout" default:"60s" doc:"The longest one milter may take for one message."`
	MaxSize   Size     `toml:"max_size" default:"25M" doc:"Messages larger than this are not given to the milters; marked skipped, with this limit."`
	OnFailure string   `toml:"on_failure" default:"tempfail" oneof:"tempfail,accept,reject" doc:"What a message gets when a milter cannot answer: tempfail (451), accept or reject (554)."`
}
