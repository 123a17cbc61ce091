package config

// Mail is local delivery into Maildir++.
type Mail struct {
	Root          string `toml:"root" default:"/var/vmail" doc:"The directory under which the Maildirs of hosted mailboxes live, a directory of ebb's own that server.user owns (never /var/mail, which the system shares). Used as {root} in mail.maildir."`
	DeliveryHost  string `toml:"delivery_host" default:"" doc:"Another ebb host that alone stores the Maildirs (the one delivery host of docs/scaling.md), as host:port of its SMTP listener: mail for hosted mailboxes is relayed there (relay.tls applies, no AUTH) and waits in this host's queue while it is down, instead of being stored under mail.root here. Recipients are still checked here at RCPT against the shared directory. The delivery host lists this host in auth.trusted_networks. Empty: stored here."`
	Maildir       string `toml:"maildir" default:"{root}/{domain}/{local}/Maildir" doc:"Where a mailbox's Maildir is, unless the directory sets one; it must name one Maildir per mailbox ({address}, or {domain} and {local}). Placeholders: {root} (mail.root), {domain} (the domain, lower case, in ASCII), {local} (the local part as stored), {address} (local@domain)."`
	Create        bool   `toml:"create" default:"true" doc:"Create a missing Maildir (and its parents, mode 0700) at the first delivery. When false a missing Maildir is a temporary error that names which of tmp/, new/, cur/ is missing."`
	CreateFolders bool   `toml:"create_folders" default:"true" doc:"Create a missing Maildir++ folder (.Folder) when a message is filed into it (ebb deliver -m, Sieve fileinto)."`
	Quota         Size   `toml:"quota" default:"0" doc:"The Maildir++ quota in bytes for a mailbox that has none of its own (0: none). The directory's quota decides: a maildirsize file that says otherwise is rewritten at the next delivery (only a Maildir given by hand to ebb deliver --maildir keeps its file's limit)."`
	QuotaMessages int64  `toml:"quota_messages" default:"0" min:"0" doc:"The Maildir++ quota in messages for a mailbox that has none of its own (0: none)."`
	OverQuota     string `toml:"over_quota" default:"temporary" oneof:"temporary,permanent" doc:"What a delivery over quota is: temporary (the sender's server retries, and the queue bounces only at expiry) or permanent (bounce now, exit 77)."`
}
