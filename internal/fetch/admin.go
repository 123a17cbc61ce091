package fetch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// Listed is an account as ebb fetch list shows it: with the messages that
// stay on its server because they were skipped, and how many wait in the
// queue (their server copies go once they are delivered).
type Listed struct {
	*fetchstate.FetchAccount
	Skipped []SkippedMessage `json:"skipped"`
	Waiting int              `json:"waiting"`
	// Owner is the host that fetches the account when several hosts
	// share the directory (its lease, SetOwners); nil: one host.
	Owner *Owner `json:"owner,omitempty"`
}

// Owner is the host holding an account's lease.
type Owner struct {
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
	// Ended: its host stopped renewing it (stopped or died); the next
	// host to look takes the account.
	Ended bool `json:"ended,omitempty"`
	// Unknown, when not "", is why the leases could not be read: the
	// host that fetches the account is not known.
	Unknown string `json:"unknown,omitempty"`
}

// SetOwners fills in who fetches each account: owner gives an account's
// lease holder (ok false: no host has taken it yet).
func SetOwners(ls []Listed, owner func(account string) (o Owner, ok bool)) {
	for i := range ls {
		if o, ok := owner(ls[i].Name); ok {
			ls[i].Owner = &o
		} else {
			ls[i].Owner = &Owner{}
		}
	}
}

// SkippedMessage is one message left on the server, with why.
type SkippedMessage struct {
	Folder      string    `json:"folder"`
	UIDValidity uint32    `json:"uidvalidity,omitempty"`
	UID         string    `json:"uid"`
	Size        int64     `json:"size"`
	Summary     string    `json:"summary,omitempty"`
	Reason      string    `json:"reason"`
	Ref         string    `json:"ref,omitempty"`
	QueueID     string    `json:"queue_id,omitempty"`
	Notified    bool      `json:"notified"`
	At          time.Time `json:"at"`
}

// Lister is what List reads: the directory.
type Lister interface {
	FetchAccounts(ctx context.Context) ([]*fetchstate.FetchAccount, error)
	FetchedByState(ctx context.Context, account string, states ...fetchstate.FetchState) ([]fetchstate.FetchedMessage, error)
}

// List reads every account with what it left on its server and what
// waits in the queue.
func List(ctx context.Context, d Lister) ([]Listed, error) {
	as, err := d.FetchAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Listed, 0, len(as))
	for _, a := range as {
		l := Listed{FetchAccount: a, Skipped: []SkippedMessage{}}
		ms, err := d.FetchedByState(ctx, a.Name, fetchstate.FetchSkipped, fetchstate.FetchQueued)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.State == fetchstate.FetchQueued {
				l.Waiting++
				continue
			}
			l.Skipped = append(l.Skipped, SkippedMessage{Folder: m.Folder, UIDValidity: m.UIDValidity, UID: m.UID, Size: m.Size,
				Summary: m.Summary, Reason: m.Reason, Ref: m.Ref, QueueID: m.QueueID, Notified: m.Notified, At: m.At.UTC()})
		}
		out = append(out, l)
	}
	return out, nil
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "(stored)"
}

// WriteList writes the accounts: a table (one line per account with its
// last status) followed by every message left on a server, or JSON with
// the secrets redacted.
func WriteList(w io.Writer, ls []Listed, asJSON bool) {
	if asJSON {
		out := make([]Listed, len(ls))
		for i, l := range ls {
			a := *l.FetchAccount
			if a.OAuth != nil { // secrets stay in the database
				o := *a.OAuth
				o.ClientSecret, o.RefreshToken, o.AccessToken = redact(o.ClientSecret), redact(o.RefreshToken), redact(o.AccessToken)
				a.OAuth = &o
			}
			l.FetchAccount = &a
			out[i] = l
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tSERVER\tUSER\tTO\tAFTER\tLAST\tSTATUS")
	for _, l := range ls {
		a := l.FetchAccount
		last, status := "never", "not fetched yet"
		if !a.Status.At.IsZero() {
			last = a.Status.At.Local().Format("2006-01-02 15:04:05")
			if a.Status.OK {
				status = fmt.Sprintf("ok (%d fetched in all)", a.Status.Fetched)
			} else {
				status = fmt.Sprintf("FAILING (%s, %d in a row): %s", a.Status.Cause, a.Status.Failures, a.Status.Text)
			}
		}
		if !a.Enabled {
			status = "disabled; " + status
		}
		if n := len(l.Skipped); n > 0 {
			status += fmt.Sprintf("; %d skipped, left on the server (below)", n)
		}
		if l.Waiting > 0 {
			status += fmt.Sprintf("; %d in the queue, their server copies kept until delivered", l.Waiting)
		}
		switch o := l.Owner; {
		case o == nil:
		case o.Unknown != "":
			status += "; fetched by: unknown (the hosts' leases could not be read: " + o.Unknown + ")"
		case o.Host == "":
			status += "; fetched by: no host yet"
		case o.Ended:
			status += fmt.Sprintf("; fetched by: none now (%s's lease ended; the next host to look takes it)", o.Host)
		default:
			status += fmt.Sprintf("; fetched by %s since %s", o.Host, o.Since.Local().Format("2006-01-02 15:04:05"))
		}
		if a.OAuth != nil {
			switch {
			case a.OAuth.RefreshToken == "" && a.OAuth.AccessToken == "":
				status += "; OAuth2: no consent yet, run ebb fetch auth " + a.Name
			case !a.OAuth.Consented.IsZero():
				status += fmt.Sprintf("; OAuth2 consent given %s (renew with ebb fetch auth %s if the provider revokes it, e.g. after 90 days unused)",
					a.OAuth.Consented.Local().Format("2006-01-02"), a.Name)
			}
		}
		after := a.After
		if a.After == "move" {
			after += " to " + a.MoveTo
		}
		fmt.Fprintf(tw, "%s\t%s %s:%d\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Protocol, a.Host, a.Port, a.Username, a.Mailbox, after, last, status)
	}
	tw.Flush()
	for _, l := range ls {
		for _, m := range l.Skipped {
			where := "folder " + m.Folder + " UID " + m.UID
			if l.Protocol == "pop3" {
				where = "UIDL " + m.UID
			}
			told := "owner and postmaster told"
			if !m.Notified {
				told = "notice not sent yet"
			}
			fmt.Fprintf(w, "  %s skipped %s (%s, %s, %s): %s\n", l.Name, where, m.At.Local().Format("2006-01-02 15:04"),
				diag.HumanBytes(uint64(max(m.Size, 0))), told, m.Summary)
			fmt.Fprintf(w, "    why: %s\n    again: ebb fetch retry %s %s\n", m.Reason, l.Name, m.UID)
		}
	}
}

// Authorize grants ebb access to an OAuth2 account once: the device
// authorization grant (RFC 8628), or with loopback (or when the provider
// has no device endpoint) the authorization code grant with a browser on
// this machine (RFC 8252 §7.3). It returns the settings with the tokens
// to store.
func Authorize(ctx context.Context, a *fetchstate.FetchAccount, loopback bool, out io.Writer, httpClient *http.Client) (*fetchstate.OAuth2, error) {
	if a.OAuth == nil {
		return nil, &UsageError{fmt.Sprintf("account %s logs in with a password; add it with --oauth2 to use OAuth2", a.Name)}
	}
	if loopback || a.OAuth.DeviceURL == "" {
		return LoopbackAuth(ctx, a.OAuth, out, httpClient)
	}
	return DeviceAuth(ctx, a.OAuth, out, httpClient)
}
