package fetch

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
)

// beginPass brings the account's messages up to date before it talks to
// the server: messages a crash left pending, what the queue said about
// those it holds, a message whose outcome was lost (the queue forgot it
// and never said), and the notice of what was skipped.
func (f *Fetcher) beginPass(ctx context.Context, a *fetchstate.FetchAccount, res *Result) error {
	if err := f.settlePending(ctx, a); err != nil {
		return err
	}
	if _, err := f.settle(ctx, a, 0, nil, res); err != nil {
		return err
	}
	if err := f.findLost(ctx, a, res); err != nil {
		return err
	}
	f.notify(ctx, a)
	return nil
}

// endPass sends the notice of what the pass skipped and counts what still
// waits in the queue, and how many of the account's messages wait on
// another host's queue (queued or pending there: fetched before this host
// took the account over) or were asked for again after the pass read its
// rows (retry): IDLE looks at the shared state while there are any.
func (f *Fetcher) endPass(ctx context.Context, a *fetchstate.FetchAccount, res *Result) (waiting, elsewhere int, _ error) {
	f.notify(ctx, a)
	rows, err := f.Store.FetchedByState(ctx, a.Name, fetchstate.FetchQueued, fetchstate.FetchPending, fetchstate.FetchRetry)
	if err != nil {
		return 0, 0, fail(CauseLocal, "read what waits in the queue", err, nil)
	}
	for _, m := range rows {
		switch {
		case m.State == fetchstate.FetchQueued:
			waiting++
		case m.State == fetchstate.FetchRetry:
			// asked for again after this pass read the folder's
			// rows (another host settled what it left pending, or
			// ebb fetch retry): the next look sees it at once
			elsewhere++
			continue
		}
		if m.QueueHost != "" && !strings.EqualFold(m.QueueHost, f.Hostname) {
			elsewhere++
		}
	}
	res.Waiting = waiting
	return waiting, elsewhere, nil
}

// lookElsewhere is how often an account in IDLE looks at the shared state
// while some of its messages wait on another host's queue: a fifth of
// fetch.lease, as a host looks for a lease to take.
func (f *Fetcher) lookElsewhere() time.Duration {
	return max(time.Second, f.Cfg.Lease.Duration/5)
}

// movedElsewhere reports whether another host's queue has moved on with
// messages of the account since the last pass: an outcome to apply (a
// server copy to delete, a skip to tell; applied here, counted into
// carry for the next pass), or messages it left pending and has since
// asked to be fetched again (retry). The local queue's reports wake IDLE
// by themselves; another host's reach this one only through the shared
// state.
func (f *Fetcher) movedElsewhere(ctx context.Context, a *fetchstate.FetchAccount, carry *Result) bool {
	retry, err := f.Store.FetchedByState(ctx, a.Name, fetchstate.FetchRetry)
	if err != nil {
		f.log().Warn("cannot read the account's messages to fetch again; looking again later", "account", a.Name, "err", err)
		return false
	}
	if len(retry) > 0 {
		return true
	}
	changed, err := f.settle(ctx, a, 0, nil, carry)
	if err != nil {
		f.log().Warn("cannot read how other hosts' queues delivered the account's messages; looking again later", "account", a.Name, "err", err)
		return false
	}
	return len(changed) > 0
}

// settleWait is how long a folder's pass waits for the queue to try what
// it queued.
func (f *Fetcher) settleWait() time.Duration {
	if f.SettleWait > 0 {
		return f.SettleWait
	}
	return f.Cfg.Timeout.Duration
}

// settle applies what the queue said about the account's queued messages
// (ApplyFetchOutcomes), counts it and reports each skip. With wait > 0 and
// a Local sink, it waits up to wait until every queue id in waitFor has
// been tried (delivered, refused or deferred). It returns the rows that
// changed.
func (f *Fetcher) settle(ctx context.Context, a *fetchstate.FetchAccount, wait time.Duration, waitFor map[string]bool, res *Result) ([]fetchstate.FetchedMessage, error) {
	l := f.local()
	deadline := time.Now().Add(wait)
	var out []fetchstate.FetchedMessage
	for {
		var woke <-chan struct{}
		if l != nil {
			woke = l.Settled() // taken before the read: no wake is missed
		}
		changed, err := f.Store.ApplyFetchOutcomes(ctx, a.Name)
		if err != nil {
			return out, fail(CauseLocal, "read how the queue delivered the fetched messages", err, nil)
		}
		for _, m := range changed {
			switch m.State {
			case fetchstate.FetchDelivered:
				res.Delivered++
			case fetchstate.FetchSkipped:
				res.Skipped++
				f.reportSkip(a, m)
			}
			delete(waitFor, m.QueueID)
		}
		out = append(out, changed...)
		if len(waitFor) == 0 || l == nil || wait <= 0 {
			return out, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return out, nil
		}
		t := time.NewTimer(left)
		select {
		case <-woke:
			t.Stop()
		case <-t.C:
			return out, nil
		case <-ctx.Done():
			t.Stop()
			return out, ctx.Err()
		}
	}
}

// settlePending decides the account's messages left pending (recordPending)
// by a crash between the queue's flush and the pass's record, or by a
// receive that failed after the row was written. No pass of the account
// runs meanwhile (one pass per account at a time), so none of them is
// still on its way into the queue. A message the queue holds, or has said
// how it ended, is queued (its outcome moves it on as usual): it is not
// fetched again. One it neither holds nor said anything of never became
// durable: its row becomes retry and it is fetched again (its server copy
// is there: only delivered messages' copies go). Another host's rows wait
// for that host unless the queue's outcome (in the shared directory)
// already tells.
func (f *Fetcher) settlePending(ctx context.Context, a *fetchstate.FetchAccount) error {
	pending, err := f.Store.FetchedByState(ctx, a.Name, fetchstate.FetchPending)
	if err != nil || len(pending) == 0 {
		if err != nil {
			return fail(CauseLocal, "read the messages a crash left on their way into the queue", err, nil)
		}
		return nil
	}
	l := f.local()
	var queued, again []fetchstate.FetchedKey
	for _, m := range pending {
		ours := m.QueueHost == "" || strings.EqualFold(m.QueueHost, f.Hostname)
		if ours && l != nil && m.QueueID != "" && l.Queued(m.QueueID) {
			queued = append(queued, m.Key())
			continue
		}
		// Asked after the queue: it records an outcome before it forgets
		// a message, so one gone from it since has its outcome here.
		o := ""
		if m.QueueID != "" {
			if o, _, _, err = f.Store.FetchOutcome(ctx, m.QueueID); err != nil {
				return fail(CauseLocal, "read how the queue delivered the fetched messages", err, nil)
			}
		}
		switch {
		case o != "":
			queued = append(queued, m.Key())
		case ours:
			again = append(again, m.Key())
		}
	}
	if err := f.Store.MarkQueued(ctx, a.Name, queued); err != nil {
		return fail(CauseLocal, "record fetched messages as queued", err, nil)
	}
	if err := f.Store.RetryPending(ctx, a.Name, again); err != nil {
		return fail(CauseLocal, "ask again for messages that never reached the queue", err, nil)
	}
	f.log().Info("messages left on their way into the queue (a crash, or a failed receive) are settled: the queued ones are not fetched again, the others are",
		"account", a.Name, "server", where(a), "queued", len(queued), "fetched_again", len(again), "another_host", len(pending)-len(queued)-len(again))
	return nil
}

// findLost skips the queued messages the queue no longer holds and never
// reported on (a crash between its delivery and the record of its
// outcome, or a message deleted from the spool by hand): whether they
// reached the mailbox is not known, so their server copies stay and a
// person is told.
func (f *Fetcher) findLost(ctx context.Context, a *fetchstate.FetchAccount, res *Result) error {
	l := f.local()
	if l == nil {
		return nil
	}
	queued, err := f.Store.FetchedByState(ctx, a.Name, fetchstate.FetchQueued)
	if err != nil {
		return fail(CauseLocal, "read what waits in the queue", err, nil)
	}
	var lost []fetchstate.FetchedMessage
	for _, m := range queued {
		if m.QueueID == "" || l.Queued(m.QueueID) {
			continue
		}
		if m.QueueHost != "" && !strings.EqualFold(m.QueueHost, f.Hostname) {
			// Another host's queue holds it (several hosts, lease.go):
			// only that host can tell it lost one; here it waits.
			continue
		}
		// The queue may have reported since the settle above (a deferral
		// is no outcome: the queue would still hold the message).
		if o, _, _, err := f.Store.FetchOutcome(ctx, m.QueueID); err != nil || o == fetchstate.OutcomeDelivered || o == fetchstate.OutcomeRefused {
			continue
		}
		lost = append(lost, m)
	}
	if len(lost) == 0 {
		return nil
	}
	ref := diag.NewRef()
	keys := make([]fetchstate.FetchedKey, len(lost))
	for i, m := range lost {
		keys[i] = m.Key()
	}
	reason := "the queue no longer holds it and did not say how its delivery ended (a crash before the outcome was recorded, or the message was removed from the spool by hand): it may or may not be in the mailbox, so its copy stays on the server. Fix: look for it in the mailbox; if it is not there, ebb fetch retry " + a.Name + " UID fetches it again"
	public := "the queue no longer holds it and did not say how its delivery ended: it may or may not be in the mailbox"
	if err := f.Store.SkipFetched(ctx, a.Name, keys, reason, public, ref); err != nil {
		return fail(CauseLocal, "record messages as skipped", err, nil)
	}
	for _, m := range lost {
		m.State, m.Reason, m.Public, m.Ref, m.Notified = fetchstate.FetchSkipped, reason, public, ref, false
		res.Skipped++
		f.reportSkip(a, m)
	}
	return nil
}

// notify tells a person about every skipped message nobody was told of
// yet. A notice that cannot be queued is logged and tried again at the
// next pass: the messages are on the server meanwhile.
func (f *Fetcher) notify(ctx context.Context, a *fetchstate.FetchAccount) {
	l := f.local()
	if l == nil {
		return
	}
	skipped, err := f.Store.FetchedByState(ctx, a.Name, fetchstate.FetchSkipped)
	if err != nil {
		f.log().Warn("cannot read the skipped messages to tell about them; trying again at the next pass", "account", a.Name, "err", err)
		return
	}
	var news []fetchstate.FetchedMessage
	var keys []fetchstate.FetchedKey
	for _, m := range skipped {
		if !m.Notified {
			news = append(news, m)
			keys = append(keys, m.Key())
		}
	}
	if len(news) == 0 {
		return
	}
	if err := l.Notify(ctx, Notice{Account: a, Server: where(a), Messages: news}); err != nil {
		f.log().Warn("cannot queue the notice of skipped messages; trying again at the next pass (the messages stay on the server)",
			"account", a.Name, "server", where(a), "messages", len(news), "err", err)
		return
	}
	if err := f.Store.MarkNotified(ctx, a.Name, keys); err != nil {
		f.log().Warn("cannot record that the skipped messages were told about: the notice may come again", "account", a.Name, "err", err)
	}
}

// reportSkip says that a message was skipped: the log, and Skipped (the
// journal, a metric).
func (f *Fetcher) reportSkip(a *fetchstate.FetchAccount, m fetchstate.FetchedMessage) {
	f.log().Warn("fetched message skipped: it stays on the server", "account", a.Name, "server", where(a),
		"folder", m.Folder, "uid", uidName(a, m), "queue_id", m.QueueID, "ref", m.Ref, "summary", m.Summary, "reason", m.Reason)
	if f.Skipped != nil {
		f.Skipped(a, m)
	}
}

// uidName is how a message is named to people: "7" (IMAP UID) or the
// POP3 UIDL.
func uidName(a *fetchstate.FetchAccount, m fetchstate.FetchedMessage) string {
	if a.Protocol == "pop3" {
		return m.UID
	}
	return fmt.Sprintf("%s (UIDVALIDITY %d)", m.UID, m.UIDValidity)
}
