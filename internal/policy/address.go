// Package policy decides who may do what on ebb's SMTP doors: which
// recipients a client may relay to (no open relay), which senders an
// authenticated user may use, and how often a client may fail to log in or
// connect. The decisions are pure functions of their inputs (plus the
// directory, behind an interface), so the whole matrix of relay tricks is a
// table test here, and the SMTP sessions only ask.
package policy

import (
	"github.com/ebbmail/ebb/internal/envaddr"
)

// Address is an envelope address split into its local part and domain (the
// one parser is internal/envaddr, shared with the queue).
type Address = envaddr.Address

// Limits from RFC 5321 §4.5.3.1.
const (
	MaxLocalPart = envaddr.MaxLocalPart
	MaxDomain    = envaddr.MaxDomain
	MaxPath      = envaddr.MaxPath
)

// Refusal is a reply that refuses a command: the SMTP code, the enhanced
// status code (RFC 3463) and a sentence for the client. It never holds a
// local path. It is the type of envaddr's refusals, so that an address
// refusal passes through as it is.
type Refusal = envaddr.Error

// clip shortens an address for a reply line and shows control characters
// as "?" so that a reply is always one line.
func clip(s string) string { return envaddr.Clip(s) }

// ParseAddress is envaddr.Parse with its refusal as a *Refusal: the one
// parser of envelope addresses, whose rules (no routing by local part, no
// second "@", no local part that needs quotes, no control characters) are
// documented there.
func ParseAddress(s string) (Address, *Refusal) {
	a, err := envaddr.Parse(s)
	if err != nil {
		return Address{}, err.(*Refusal) // Parse's errors are always *envaddr.Error
	}
	return a, nil
}
