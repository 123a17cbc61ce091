package deliver

import (
	"context"

	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/resolve"
)

// Filter decides, per mailbox, what happens to a message: the seam where
// Sieve plugs in (internal/sieve implements it). A nil Filter keeps every
// message in the envelope's folder.
type Filter interface {
	// Decide runs the mailbox's filter over msg. An error is the filter's
	// own trouble (script unreadable, database down): delivery to that
	// mailbox fails temporarily, as Dovecot's LDA does when a script
	// cannot be run. The mailbox is never nil; for ebb deliver --maildir
	// it carries only Address (the -d address, may be "") and Maildir.
	Decide(ctx context.Context, mb *resolve.Mailbox, msg *Message, env Envelope) (*Decision, error)
}

// Message is the read-only view of a message that a Filter gets. The
// message has been written once, to Path; a filter reads the body from
// there (never from memory), for any size.
type Message struct {
	// Header is the message's own header (without the fields ebb
	// prepended), read by mailhdr like every other reading of it. Each
	// field is cut at 64 KiB and the whole at 1 MiB; the file holds the
	// rest.
	Header *mailhdr.Header
	// Path is the file holding the message as it will be stored: ebb's
	// prefix (Return-Path, Delivered-To, -A headers, Envelope.Prefix)
	// followed by the message. It exists until Decide returns.
	Path string
	// Offset is where the original message starts in Path.
	Offset int64
	// Size is the size of the file at Path in bytes (Sieve "size").
	Size int64
}

// Decision is what a Filter wants done with one mailbox's copy.
//
// Implicit keep (RFC 5228 §2.10.2): with no Stores, Discard false and no
// Reject, the message is stored in Envelope.Folder (INBOX when empty). A
// filter that cancels the implicit keep without filing (discard, a redirect
// without :copy) sets Discard.
type Decision struct {
	// Stores are the folders to store the message in, each once. Several
	// stores share one written file through hard links.
	Stores []Store
	// Discard cancels the implicit keep.
	Discard bool
	// Reject refuses the message for this mailbox with this reason (Sieve
	// reject/ereject): a permanent failure whose text goes to the sender.
	Reject string
	// Redirects are addresses to resend the message to; the caller hands
	// them to the queue (ebb deliver only logs them: it has no queue).
	Redirects []string
	// Outbound are new messages to send (vacation replies, notifications).
	Outbound []Outbound
	// Header, when not nil, replaces the whole header block of the file at
	// Message.Path in this mailbox's copy (Sieve editheader, RFC 5293): the
	// fields in order, each "Name:value" as written (folding kept, no final
	// line end). It is the header the filter saw, so it includes the fields
	// ebb prepended (Return-Path, Delivered-To, Received).
	Header []string
	// Delivered, when set, is called once this mailbox's copy is stored (or
	// discarded as the filter asked). State that must hold only for a
	// delivered message is committed there: Sieve's duplicate ids (RFC 7352
	// §3), so that a delivery that fails and is retried is not taken for a
	// duplicate of itself — and discarded.
	Delivered func()
	// Notes say what the filter could not do as written (a script missing
	// or broken, skipped): besides the filter's log line, they go in the
	// mailbox's Outcome, which ebb serve journals with the delivery.
	Notes []string
}

// StoresFor is where the delivery stores the message once d decides
// (Reject aside, which fails the delivery): d's Stores, else the folder
// the envelope names (the implicit keep), else nothing where d discards.
// A nil d (no filter, or one that decides nothing) keeps. The delivery,
// the quota refusal's dry run and ebb route read a decision this one way.
func (d *Decision) StoresFor(folder string) []Store {
	switch {
	case d != nil && len(d.Stores) > 0:
		return d.Stores
	case d != nil && d.Discard:
		return nil
	}
	return []Store{{Folder: folder}}
}

// Store is one fileinto (or keep).
type Store struct {
	// Folder is the IMAP folder name ("" or INBOX: the top Maildir).
	// A folder that does not exist is created (mail.create_folders) or
	// the message goes to INBOX, as Dovecot's LDA does.
	Folder string
	// Flags are IMAP flags (\Seen, \Flagged, ...). When any maps to a
	// Maildir letter the message goes into cur/ with ":2,<letters>".
	Flags []string
}

// Outbound is a message a filter wants sent.
type Outbound struct {
	Sender     string // envelope sender; "" is <>
	Recipients []string
	Data       []byte // the whole message, header and body, CRLF or LF
	// Note says what differs from what the script asked (a vacation
	// :from replaced by the mailbox's own address, and why); "" if
	// nothing does.
	Note string
}
