package main

import "github.com/ebbmail/ebb/internal/cli"

// fetchCmd is ebb fetch (fetch.go): each subcommand runs runFetch as it
// was, until fetch.go moves onto cli.Call.
var fetchCmd = &cli.Command{Name: "fetch", Summary: "fetch remote IMAP and POP3 accounts into local mailboxes, exactly once (docs/fetch.md)", Sub: []*cli.Command{
	{Name: "add", Args: "NAME --server HOST[:PORT] --user USER --to MAILBOX", Summary: "add an account (password at the prompt or on stdin, or --oauth2)"},
	{Name: "list", Summary: "the accounts with their last status"},
	{Name: "remove", Args: "NAME", Summary: "remove an account"},
	{Name: "test", Args: "NAME", Summary: "log in and list the server's folders, fetching nothing"},
	{Name: "run", Args: "[NAME...]", Summary: "one pass in the foreground, with a progress bar (all accounts without NAME; not while ebb serve runs)"},
	{Name: "auth", Args: "NAME", Summary: "grant an OAuth2 account access once (device code, or --loopback)"},
	{Name: "passwd", Args: "NAME", Summary: "change an account's password (at the prompt or on stdin)"},
	{Name: "reset", Args: "NAME", Summary: "go through the folders again after a UIDVALIDITY change, skipping what was delivered before"},
	{Name: "enable", Args: "NAME", Summary: "fetch the account again"},
	{Name: "disable", Args: "NAME", Summary: "stop fetching the account, keeping its state"},
}}

func init() {
	for _, s := range fetchCmd.Sub {
		s.RawArgs = true
		s.Run = legacy(runFetch, s.Name)
	}
}
