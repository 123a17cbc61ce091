package directory

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/resolve"
)

// The address forms are internal/resolve's (the delivery agent reads them
// without this package's SQL drivers); these names keep the directory's
// API whole.

// ErrBadAddress is wrapped by the errors for addresses that cannot be parsed.
var ErrBadAddress = resolve.ErrBadAddress

// NormalizeDomain returns domain in lower-case ASCII (resolve.NormalizeDomain).
func NormalizeDomain(domain string) (string, error) { return resolve.NormalizeDomain(domain) }

// DomainUnicode renders an ASCII domain for people (resolve.DomainUnicode).
func DomainUnicode(domain string) string { return resolve.DomainUnicode(domain) }

// SplitAddress splits local@domain at the last "@" and normalises the
// domain (resolve.SplitAddress).
func SplitAddress(address string) (local, domain string, err error) {
	return resolve.SplitAddress(address)
}

// NormalizeAddress returns address with its domain normalised.
func NormalizeAddress(address string) (string, error) { return resolve.NormalizeAddress(address) }

func lookupKey(local, domain string) string { return resolve.LookupKey(local, domain) }

// Names are checked when they are added (ebb user add, alias add, import),
// so that nothing enters the directory that could never work: an address
// the SMTP server would refuse at RCPT (envaddr, the one parser: control
// characters, a local part that needs quotes, dots at the ends or twice),
// and for a mailbox a local part that cannot name its Maildir directory
// ({local} in mail.maildir). Lookups do not check: a name added before
// these checks can still be shown and removed.

// checkAddress refuses an address (local@domain, the domain normalised)
// that envaddr would refuse; what names it ("mailbox", "alias",
// "destination") starts the reason.
func checkAddress(what, address string) error {
	if _, err := envaddr.Parse(address); err != nil {
		var e *envaddr.Error
		if errors.As(err, &e) {
			return fmt.Errorf("%w: %s %q: %s; mail to it would be refused at RCPT", ErrBadAddress, what, address, e.Reason)
		}
		return fmt.Errorf("%w: %s %q: %v", ErrBadAddress, what, address, err)
	}
	return nil
}

// checkMailboxName refuses a mailbox address that can never be a
// Maildir: what checkAddress refuses, a local part over 64 octets (RFC
// 5321 §4.5.3.1.1), and a "/" (atext, but it would split the Maildir's
// path in two). A leading dot (a hidden directory, and the mark of a
// Maildir++ folder), ".." and control characters are refused by envaddr.
func checkMailboxName(address string) error {
	if err := checkAddress("mailbox", address); err != nil {
		return err
	}
	local := address[:strings.LastIndexByte(address, '@')]
	switch {
	case len(local) > envaddr.MaxLocalPart:
		return fmt.Errorf("%w: mailbox %q: the local part is longer than %d octets (RFC 5321 4.5.3.1.1)", ErrBadAddress, address, envaddr.MaxLocalPart)
	case strings.Contains(local, "/"):
		return fmt.Errorf("%w: mailbox %q: a \"/\" in the local part would split its Maildir's path ({local} in mail.maildir)", ErrBadAddress, address)
	}
	return nil
}

// checkMaildirPath refuses a mailbox's own Maildir path (the maildir
// column) that delivery and Dovecot could not use: not absolute (it would
// depend on the working directory), with a control character, or with a
// ":" (Dovecot's mail location separates its options with ":").
func checkMaildirPath(path string) error {
	switch {
	case path == "":
		return nil
	case !filepath.IsAbs(path):
		return fmt.Errorf("maildir %q: give an absolute path", path)
	case strings.IndexFunc(path, unicode.IsControl) >= 0:
		return fmt.Errorf("maildir %q: control character in the path", path)
	case strings.Contains(path, ":"):
		return fmt.Errorf("maildir %q: a \":\" in the path would end Dovecot's mail location (maildir:PATH:OPTIONS)", path)
	}
	return nil
}
