package directory

import (
	"encoding/json"
	"fmt"
	"github.com/ebbmail/ebb/internal/diag"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/passwd"
)

// What the admin commands print: ebb domain list, user list, alias list,
// directory resolve and import, as tables for people and as JSON.

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func table(w io.Writer, head string, rows func(tw io.Writer)) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, head)
	rows(tw)
	tw.Flush()
}

// WriteDomains lists the hosted domains and domain aliases.
func WriteDomains(w io.Writer, ds []Domain, asJSON bool) {
	if asJSON {
		if ds == nil {
			ds = []Domain{}
		}
		writeJSON(w, ds)
		return
	}
	table(w, "DOMAIN\tMAILBOXES\tALIASES\tNOTE", func(tw io.Writer) {
		for _, d := range ds {
			note := ""
			if d.AliasOf != "" {
				note = "alias of " + d.AliasOf
			}
			if d.Unicode != "" {
				note = d.Unicode + " " + note
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", d.Name, d.Mailboxes, d.Aliases, note)
		}
	})
}

// WriteAliases lists aliases; "@domain" is marked as the catch-all.
func WriteAliases(w io.Writer, as []Alias, asJSON bool) {
	if asJSON {
		if as == nil {
			as = []Alias{}
		}
		writeJSON(w, as)
		return
	}
	table(w, "ALIAS\tDESTINATIONS", func(tw io.Writer) {
		for _, a := range as {
			name := a.Address
			if strings.HasPrefix(name, "@") {
				name += " (catch-all)"
			}
			fmt.Fprintf(tw, "%s\t%s\n", name, strings.Join(a.Destinations, ", "))
		}
	})
}

// mailboxRow is a line of ebb user list --json.
type mailboxRow struct {
	Address       string `json:"address"`
	Enabled       bool   `json:"enabled"`
	QuotaBytes    int64  `json:"quota_bytes"`
	QuotaMessages int64  `json:"quota_messages"`
	Maildir       string `json:"maildir"`
	MaildirSet    bool   `json:"maildir_set"`
	Scheme        string `json:"password_scheme"`
}

// WriteMailboxes lists mailboxes with where their mail is (maildirOf: the
// mailbox's own Maildir or the one mail.maildir gives it) and the scheme
// of their password ("none" without one).
func WriteMailboxes(w io.Writer, mbs []*Mailbox, maildirOf func(*Mailbox) string, asJSON bool) {
	rows := []mailboxRow{}
	for _, mb := range mbs {
		scheme := "none"
		if mb.PasswordHash != "" {
			scheme = passwd.Scheme(mb.PasswordHash)
		}
		rows = append(rows, mailboxRow{mb.Address, mb.Enabled, mb.QuotaBytes, mb.QuotaMessages, maildirOf(mb), mb.Maildir != "", scheme})
	}
	if asJSON {
		writeJSON(w, rows)
		return
	}
	table(w, "ADDRESS\tSTATE\tQUOTA\tMESSAGES\tPASSWORD\tMAILDIR", func(tw io.Writer) {
		for _, r := range rows {
			state := "enabled"
			if !r.Enabled {
				state = "disabled"
			}
			q := "default"
			if r.QuotaBytes > 0 {
				q = config.Size(r.QuotaBytes).String()
			}
			m := "default"
			if r.QuotaMessages > 0 {
				m = strconv.FormatInt(r.QuotaMessages, 10)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Address, state, q, m, r.Scheme, r.Maildir)
		}
	})
}

// WriteResolution says where mail for the address goes (ebb directory
// resolve): each mailbox, each forward, and the aliases passed.
func WriteResolution(w io.Writer, r *Resolution, asJSON bool) {
	if asJSON {
		type mb struct {
			Address string `json:"address"`
			Enabled bool   `json:"enabled"`
			Maildir string `json:"maildir,omitempty"`
		}
		out := struct {
			Address   string   `json:"address"`
			Mailboxes []mb     `json:"mailboxes"`
			Forwards  []string `json:"forwards"`
			Detail    string   `json:"detail,omitempty"`
			Chain     []string `json:"chain"`
			Unknown   bool     `json:"unknown"`
		}{Address: r.Address, Mailboxes: []mb{}, Forwards: r.Forwards, Detail: r.Detail, Chain: r.Chain, Unknown: r.Unknown()}
		for _, m := range r.Mailboxes {
			out.Mailboxes = append(out.Mailboxes, mb{m.Address, m.Enabled, m.Maildir})
		}
		if out.Forwards == nil {
			out.Forwards = []string{}
		}
		writeJSON(w, out)
		return
	}
	if r.Unknown() {
		fmt.Fprintf(w, "%s: unknown\n", r.Address)
	}
	for _, m := range r.Mailboxes {
		state := ""
		if !m.Enabled {
			state = " (disabled)"
		}
		fmt.Fprintf(w, "%s: mailbox %s%s\n", r.Address, m.Address, state)
	}
	for _, f := range r.Forwards {
		fmt.Fprintf(w, "%s: forward %s\n", r.Address, f)
	}
	if len(r.Chain) > 1 {
		fmt.Fprintf(w, "%s: addresses passed: %s\n", r.Address, strings.Join(r.Chain, ", "))
	}
}

// WriteText says what an import did (or would do, on a dry run): each
// change, then the counts. The skipped lines go to WriteBad.
func (res *ImportResult) WriteText(w io.Writer) {
	verb := "imported"
	if res.DryRun {
		verb = "would import (dry run, nothing changed)"
	}
	for _, ch := range res.Changes {
		fmt.Fprintln(w, ch)
	}
	fmt.Fprintf(w, "%s: %s added, %s added, %d updated, %s skipped\n", verb, diag.Count(len(res.AddedDomains), "domain"),
		diag.Count(res.AddedMailboxes, "mailbox"), res.UpdatedMailboxes, diag.Count(len(res.Bad), "line"))
}

// WriteJSON writes the result as JSON.
func (res *ImportResult) WriteJSON(w io.Writer) {
	if res.Bad == nil {
		res.Bad = []BadLine{}
	}
	writeJSON(w, res)
}

// WriteBad names each skipped line of file as FILE:LINE: skipped: REASON.
func (res *ImportResult) WriteBad(w io.Writer, file string) {
	for _, b := range res.Bad {
		fmt.Fprintf(w, "%s:%d: skipped: %s\n", file, b.Line, b.Reason)
	}
}
