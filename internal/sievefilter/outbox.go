package sievefilter

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/pickup"
)

// Outbox takes the messages a script sends: redirects (the message itself,
// streamed from its one written file) and vacation replies. The daemon
// passes its queue (daemon's queueOutbox); ebb deliver, which has no queue of its
// own, passes the sendmail pickup (PickupOutbox): the running daemon queues
// the message at once, or picks it up from sendmail.pickup_dir when it
// starts.
type Outbox interface {
	// Send queues a message from sender ("" is <>) to recipients; data
	// streams it. It returns only once the message is durable.
	Send(ctx context.Context, sender string, recipients []string, data io.Reader) (id string, err error)
}

type resentKey struct{}

// Resent reports whether the message an Outbox is given (Send's ctx) is a
// redirect: the received message itself, sent on, not one the script
// wrote (a vacation response). The daemon's outbox keeps a redirect of
// mail from outside marked as such (queue.Envelope.External: not signed
// with a hosted domain's key).
func Resent(ctx context.Context) bool {
	v, _ := ctx.Value(resentKey{}).(bool)
	return v
}

// Resending is ctx for the Send of a redirect (Resent).
func Resending(ctx context.Context) context.Context {
	return context.WithValue(ctx, resentKey{}, true)
}

type noteKey struct{}

// Note is what the filter wants said of the message an Outbox is given
// (Send's ctx), "" for nothing: a vacation response whose :from was
// replaced by the mailbox's own address. The daemon's outbox makes it a
// journal record of the response's queue item (principle 7: the log and
// the metric say it too).
func Note(ctx context.Context) string {
	v, _ := ctx.Value(noteKey{}).(string)
	return v
}

// noting is ctx for the Send of a message with a Note.
func noting(ctx context.Context, note string) context.Context {
	return context.WithValue(ctx, noteKey{}, note)
}

// PickupOutbox hands messages to the daemon through the pickup directory.
type PickupOutbox struct{ Drop *pickup.Drop }

func (o PickupOutbox) Send(ctx context.Context, sender string, rcpts []string, data io.Reader) (string, error) {
	return o.Drop.Queue(ctx, sender, rcpts, data)
}

// redirectReader streams the stored message for a redirect: the file as
// delivery wrote it, without Return-Path fields (Return-Path belongs to
// final delivery, RFC 5321 §4.4; the resent copy gets a new one from its
// envelope). Delivered-To stays: it is what stops a redirect loop (RFC 5228
// §4.2 asks implementations to prevent loops). The header is read by
// mailhdr, as delivery wrote it; only one field at a time is held in
// memory and the body streams from the file.
func redirectReader(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufpool.Reader(f)
	filter := mailhdr.NewFilter(br, func(fl mailhdr.Field) mailhdr.Verdict {
		return mailhdr.Verdict{Drop: fl.Is("Return-Path")}
	})
	return &pooledFile{Reader: filter, f: f, br: br}, nil
}

// pooledFile closes the file and returns the reader's buffer.
type pooledFile struct {
	io.Reader
	f  *os.File
	br *bufio.Reader
}

func (p *pooledFile) Close() error {
	bufpool.PutReader(p.br)
	return p.f.Close()
}

// bytesReader is a small helper to send built replies.
func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
