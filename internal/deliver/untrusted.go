package deliver

import (
	"bufio"
	"strings"

	"github.com/ebbmail/ebb/internal/arfield"
	"github.com/ebbmail/ebb/internal/mailhdr"
)

// Fields in a message that claim to be ebb's own verdicts are not
// stored as they came: ebb's own results travel in the envelope's prefix
// and are written above the message, so any such field inside the
// message was written by the sender (or a hop before ebb), whether or not
// a check or a scanner ran here.
//
//   - Authentication-Results claiming ebb's authserv-id are dropped (RFC
//     8601 §5: "an MTA ... MUST remove or rename" them), so a forged one
//     cannot pass for ours.
//   - Scanner verdicts (X-Spam-*, X-Spamd-*, X-Rspamd-*, X-Virus-*, and
//     ebb's own X-Ebb-* such as X-Ebb-Scan) are renamed to
//     X-Ebb-Untrusted-<name>: a mail filter or a Sieve spamtest that reads
//     X-Spam-Flag or X-Ebb-Scan sees only ebb's, and what the sender wrote
//     stays readable (principle 7: say what happened).

// untrustedPrefix is what a renamed verdict field's name starts with.
const untrustedPrefix = "X-Ebb-Untrusted-"

// verdictPrefixes are the field-name families of scanner verdicts.
var verdictPrefixes = []string{"x-spam-", "x-spamd-", "x-rspamd-", "x-virus-", "x-ebb-"}

// isVerdictField reports whether a field name is one a scanner (or ebb)
// writes its verdict in.
func isVerdictField(name string) bool {
	n := strings.ToLower(name)
	if strings.HasPrefix(n, strings.ToLower(untrustedPrefix)) {
		return false // renamed already (by an ebb before this one)
	}
	switch n {
	case "x-spam", "x-spamd", "x-virus":
		return true
	}
	for _, p := range verdictPrefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

// untrustedFilter streams the message in br with the fields above
// dropped or renamed, as env asks (StripAuthResults, RenameVerdicts).
func untrustedFilter(br *bufio.Reader, env Envelope) *mailhdr.Filter {
	return mailhdr.NewFilter(br, untrustedVerdict(env))
}

// untrustedVerdict is what untrustedFilter does with each field.
func untrustedVerdict(env Envelope) func(mailhdr.Field) mailhdr.Verdict {
	id := strings.ToLower(env.StripAuthResults)
	return func(f mailhdr.Field) mailhdr.Verdict {
		switch {
		case id != "" && f.Is("Authentication-Results"):
			// A field whose authserv-id is not within its first
			// MaxField bytes can only be a forgery hiding it.
			aid := arfield.AuthservID(f.RawValue())
			if aid == id || (f.Truncated && aid == "") {
				return mailhdr.Verdict{Drop: true}
			}
		case env.RenameVerdicts && isVerdictField(f.Name):
			return mailhdr.Verdict{Rename: untrustedPrefix + f.Name}
		}
		return mailhdr.Verdict{}
	}
}
