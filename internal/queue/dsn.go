package queue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/dsn"
	"github.com/ebbmail/ebb/internal/mailhdr"
)

// maxReturnedHeaders bounds the original headers a DSN carries.
const maxReturnedHeaders = 64 << 10

// bounce sends the DSNs a round calls for, to the envelope sender: one
// failure DSN for every failed recipient not reported yet, and one success
// DSN for every delivered recipient that asked for it (NOTIFY=SUCCESS, RFC
// 3461 §4.1). Never to the null sender (RFC 5321 §4.5.5, RFC 3464 §2): a
// DSN that cannot be delivered is dropped with a log line, so no bounce
// loops. A recipient whose NOTIFY leaves out FAILURE gets no failure DSN.
// It reports whether the message changed.
func (q *Queue) bounce(ctx context.Context, m *Message) bool {
	var failed, succeeded []*Recipient
	changed := false
	for _, r := range m.Recipients {
		if r.Notified {
			continue
		}
		want := m.Envelope.DSNFor(r.Address)
		switch {
		case r.State == Failed && !want.Wants(NotifyFailure):
			r.Notified = true // NOTIFY=NEVER or without FAILURE: the sender said no
			changed = true
			q.log.Info("no bounce: the sender's NOTIFY leaves out FAILURE", "queue_id", m.ID, "rcpt", r.Address,
				"notify", strings.Join(want.Notify, ","))
		case r.State == Failed:
			failed = append(failed, r)
		case r.State == Delivered && want.Wants(NotifySuccess) && (r.Relay == nil || !r.Relay.DSN):
			// RFC 3461 §5.2.2: when the next hop took NOTIFY it reports
			// the success itself; we do only for the hops that did not.
			succeeded = append(succeeded, r)
		}
	}
	if len(failed)+len(succeeded) == 0 {
		return changed
	}
	if m.Envelope.From == "" {
		for _, r := range append(failed, succeeded...) {
			r.Notified = true // nobody to tell: <> never gets a DSN
		}
		if m.Envelope.Proto == "dsn" {
			q.log.Warn("undeliverable DSN dropped: a DSN is sent from <> and never causes another (RFC 5321 §4.5.5)", "queue_id", m.ID,
				"rcpts", rcptList(failed), "err", firstError(failed))
		} else {
			q.log.Info("no bounce for the null sender", "queue_id", m.ID, "failed", len(failed))
		}
		return true
	}
	for _, batch := range []struct {
		kind  dsn.Kind
		rcpts []*Recipient
	}{{dsn.Failure, failed}, {dsn.Success, succeeded}} {
		if len(batch.rcpts) == 0 {
			continue
		}
		id, incomplete, err := q.sendDSN(ctx, m, batch.rcpts, batch.kind)
		if err != nil {
			q.log.Error("cannot queue a DSN; will retry", "queue_id", m.ID, "action", batch.kind.Action(nil), "err", err)
			continue
		}
		for _, r := range batch.rcpts {
			r.Notified = true
		}
		changed = true
		if batch.kind == dsn.Failure {
			q.log.Info("bounce queued", "queue_id", m.ID, "dsn_id", id, "to", m.Envelope.From, "failed", len(batch.rcpts))
			q.observe(Event{Kind: EvDSN, QueueID: m.ID, DSNID: id, Recipient: m.Envelope.From, Note: dsnNote("failure", incomplete)})
		} else {
			q.log.Info("success DSN queued", "queue_id", m.ID, "dsn_id", id, "to", m.Envelope.From, "delivered", len(batch.rcpts))
			q.observe(Event{Kind: EvDSN, QueueID: m.ID, DSNID: id, Recipient: m.Envelope.From, Note: dsnNote("success", incomplete)})
		}
	}
	return changed
}

func rcptList(rs []*Recipient) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Address)
	}
	return strings.Join(s, ",")
}

func firstError(rs []*Recipient) string {
	for _, r := range rs {
		if r.Error != nil {
			return r.Error.Sentence()
		}
	}
	return ""
}

// delayNotice sends the one delay notice (RFC 3464 Action: delayed) once a
// message has waited queue.delay_notice with recipients still deferred
// that did not leave DELAY out of their NOTIFY (RFC 3461 §4.1).
func (q *Queue) delayNotice(ctx context.Context, m *Message, now time.Time) bool {
	if q.set.delayNotice <= 0 || m.DelayNotified || m.Envelope.From == "" || now.Sub(m.Arrived) < q.set.delayNotice {
		return false
	}
	var rcpts []*Recipient
	for _, r := range m.Recipients {
		if r.State == Deferred && m.Envelope.DSNFor(r.Address).Wants(NotifyDelay) {
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		return false
	}
	id, incomplete, err := q.sendDSN(ctx, m, rcpts, dsn.Delay)
	if err != nil {
		q.log.Error("cannot queue a delay notice; will retry", "queue_id", m.ID, "err", err)
		return false
	}
	m.DelayNotified = true
	q.log.Info("delay notice queued", "queue_id", m.ID, "dsn_id", id, "to", m.Envelope.From, "deferred", len(rcpts))
	q.observe(Event{Kind: EvDSN, QueueID: m.ID, DSNID: id, Recipient: m.Envelope.From, Note: dsnNote("delay", incomplete)})
	return true
}

// sendDSN queues a DSN about rcpts of m, from <> to m's sender, written
// by internal/dsn. The DSN streams from the spool file into the new one
// (RET=FULL returns the whole message): memory stays flat for any size.
// incomplete is why the returned header is incomplete (the message's
// header could not be read), nil when it is whole: logged and counted
// here, for the caller's DSN event (dsnNote).
func (q *Queue) sendDSN(ctx context.Context, m *Message, rcpts []*Recipient, kind dsn.Kind) (id string, incomplete, err error) {
	full := kind == dsn.Failure && strings.EqualFold(m.Envelope.Ret, "FULL")
	rep := &dsn.Report{Host: q.set.hostname, Kind: kind, QueueID: m.ID, From: m.Envelope.From, EnvID: m.Envelope.EnvID,
		Arrived: m.Arrived, Now: q.now(), Lifetime: q.set.lifetime}
	for _, r := range rcpts {
		rep.Recipients = append(rep.Recipients, dsnRecipient(m, r))
	}
	if full {
		f, err := m.OpenData()
		if err != nil {
			return "", nil, fmt.Errorf("open the message to return in the DSN: %w", err)
		}
		defer f.Close()
		rep.Message = io.MultiReader(strings.NewReader(m.Envelope.Prefix), f)
	} else {
		var err error
		if rep.Headers, err = Headers(m); err != nil {
			// The DSN goes with what could be read (the prefix, the
			// fields before the trouble): said, since its reader
			// cannot tell.
			q.log.Warn("DSN: the returned header is incomplete: the message's header could not be read", "queue_id", m.ID,
				"file", m.File, "err", err)
			incomplete = err
			q.mu.Lock()
			q.stats.dsnIncomplete++
			q.mu.Unlock()
		}
	}
	env := &Envelope{
		From:       "",
		Recipients: []string{m.Envelope.From},
		Proto:      "dsn",
		SMTPUTF8:   m.Envelope.SMTPUTF8,
		// RFC 8689 §5: a non-delivery report of a REQUIRETLS message
		// carries its content, so it travels under REQUIRETLS too.
		RequireTLS: m.Envelope.RequireTLS,
	}
	if full || m.Envelope.SMTPUTF8 {
		env.BodyType = m.Envelope.BodyType
	}
	id, err = q.Receive(ctx, env, rep.Reader(), ReceiveOptions{})
	return id, incomplete, err
}

// dsnNote is the DSN event's Note: its kind, then, when the returned
// header is incomplete, why ("failure; …": the journal's story tells it).
func dsnNote(kind string, incomplete error) string {
	if incomplete == nil {
		return kind
	}
	return kind + "; the returned header is incomplete: the message's header could not be read (" + incomplete.Error() + ")"
}

// dsnRecipient is what the DSN says of r: its ORCPT, its error or where
// it was relayed, its attempts.
func dsnRecipient(m *Message, r *Recipient) dsn.Recipient {
	o := m.Envelope.DSNFor(r.Address)
	d := dsn.Recipient{Address: r.Address, ORCPTType: o.ORCPTType, ORCPT: o.ORCPT, Error: r.Error, Last: r.Last, Next: r.Next}
	if h := r.Relay; h != nil {
		d.Relay = &dsn.Relayed{Host: h.Host, IP: h.IP, Reply: h.Reply, TLS: h.TLS, Policy: h.Policy, Expanded: h.Expanded}
	}
	return d
}

// Headers returns the header section of m as a transport writes it (the
// prefix, then the data file's header as mailhdr reads it: where it ends
// is every part's rule), with LF line ends, whole fields up to 64 KiB in
// all. When the data file cannot be read it returns the prefix and the
// error.
func Headers(m *Message) (string, error) {
	var hdr bytes.Buffer
	hdr.WriteString(m.Envelope.Prefix)
	f, err := m.OpenData()
	if err == nil {
		br := bufpool.Reader(f)
		s := mailhdr.NewScanner(br)
		for s.Scan() {
			fl := s.Field()
			if fl.Truncated || hdr.Len()+len(fl.Raw) > maxReturnedHeaders {
				break
			}
			hdr.Write(fl.Raw)
		}
		err = s.Err()
		bufpool.PutReader(br)
		f.Close()
	}
	// Drop a partial last line; normalise line ends.
	out := hdr.String()
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[:i+1]
	} else {
		out = ""
	}
	return strings.ReplaceAll(out, "\r\n", "\n"), err
}
