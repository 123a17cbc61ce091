package main

import "github.com/ebbmail/ebb/internal/cli"

// fetchCmd is ebb fetch (fetch.go; the work is internal/fetch's).
var fetchCmd = &cli.Command{Name: "fetch", Summary: "fetch remote IMAP and POP3 accounts into local mailboxes, exactly once (docs/fetch.md)", Sub: []*cli.Command{
	{Name: "add", Args: "NAME", Summary: "add an account (password at the prompt or on stdin, or --oauth2)", Run: fetchAdd},
	{Name: "list", Summary: "the accounts with their last status, and every message left on a server", Run: fetchList},
	{Name: "remove", Args: "NAME", Summary: "remove an account", Run: fetchRemove},
	{Name: "test", Args: "NAME", Summary: "log in and list the server's folders, fetching nothing", Run: fetchTest},
	{Name: "run", Args: "[NAME...]", Summary: "one pass in the foreground, with a progress bar (all accounts without NAME; not while ebb serve runs)", Run: fetchRun},
	{Name: "auth", Args: "NAME", Summary: "grant an OAuth2 account access once (device code, or --loopback)", Run: fetchAuth},
	{Name: "passwd", Args: "NAME", Summary: "change an account's password (at the prompt or on stdin)", Run: fetchPasswd},
	{Name: "reset", Args: "NAME", Summary: "go through the folders again after a UIDVALIDITY change, skipping what was taken before", Run: fetchReset},
	{Name: "enable", Args: "NAME", Summary: "fetch the account again", Run: fetchEnable(true)},
	{Name: "disable", Args: "NAME", Summary: "stop fetching the account, keeping its state", Run: fetchEnable(false)},
	{Name: "set", Args: "NAME", Summary: "change an account's server, TLS, CA file, folders or after-action, keeping what it fetched", Run: fetchSet},
	{Name: "retry", Args: "NAME [UID...]", Summary: "fetch skipped messages again (all of the account's without UID) once their cause is fixed", Run: fetchRetry},
}}
