package scan

import (
	"fmt"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
)

// fixFor is the remedy the log line of an unscanned message names
// (principle 1): why the scanner did not scan, from what the engine knows
// (the cause, the scanner's address, the setting that sent mail to it),
// what to change, and, when its policy let the message through unscanned
// (accept), the setting that makes senders wait instead.
func fixFor(en *entry, r *Result) *diag.Fix {
	key := en.key()
	name, addr := r.Scanner, scannerAddr(en.Scanner)
	var f *diag.Fix
	switch r.Cause {
	case CauseSize:
		return diag.Because(fmt.Sprintf("the message is larger than %s (%d bytes), ebb's own limit for %s", en.SizeKey, en.MaxSize, name),
			diag.Say(fmt.Sprintf("to scan larger messages, raise %s, at most to %s's own limit", en.SizeKey, name)))
	case CauseScannerLimit:
		f = diag.Because(fmt.Sprintf("the message is over %s's own size limit", name),
			diag.Say(fmt.Sprintf("set %s at or below %s's limit (%s), so that ebb skips such mail itself and says so", en.SizeKey, name, scannerLimitName(en.Scanner))))
	case CauseScannerSkip:
		return diag.Because(fmt.Sprintf("%s's own settings skipped its checks", name),
			diag.Say(fmt.Sprintf("if such mail should be scanned, narrow the %s settings rule that applies flags = [\"skip\"] (local.d/settings.conf)", name)))
	case CauseDown:
		f = diag.Because(fmt.Sprintf("%s does not accept connections at %s", name, addr),
			diag.Say(fmt.Sprintf("start %s there, or set %s.address to where it listens", name, key)))
	case CauseDenied:
		who := diag.Self()
		if found := SocketDenied(addr, who); found != nil {
			f = SocketFix(found, addr, name, key, who, nil)
		} else {
			f = diag.Because(fmt.Sprintf("%s refused ebb's connection at %s (permission denied)", name, addr),
				diag.Say(fmt.Sprintf("have %s create its socket so that %s may connect, or set %s.address to its TCP address", name, who, key)))
		}
	case CauseTimeout:
		f = diag.Because(fmt.Sprintf("%s at %s did not answer within %s.timeout (or scan.total_timeout)", name, addr, key),
			diag.Say(fmt.Sprintf("look at %s's load and log; if its scans are slow but finish, raise %s.timeout", name, key)))
	case CauseProtocol:
		f = diag.Because(fmt.Sprintf("%s at %s answered without a verdict ebb can read", name, addr),
			diag.Say(fmt.Sprintf("check that %s.address is %s", key, expected(en.Scanner))))
	case CauseBreaker:
		f = diag.Because(fmt.Sprintf("%s failed %d times in a row and is not asked until scan.breaker_interval has passed", name, en.br.max),
			diag.Say("fix the failure logged with \"scan breaker open\" before this line"))
	case CauseIO:
		f = diag.Because("the spool file could not be read", diag.Say("see err; the spool is queue.spool"))
	default:
		f = diag.Because(fmt.Sprintf("%s did not scan the message", name), diag.Say("see err"))
	}
	f.AndCheck("ebb doctor")
	if en.OnFailure == PolicyAccept && r.Status == Failed || en.OnFailure == PolicyAccept && r.Cause == CauseScannerLimit {
		f.OrElse(diag.Because(fmt.Sprintf("%s.on_failure = \"accept\" delivered it unscanned", key),
			diag.Say(fmt.Sprintf("set %s.on_failure = \"tempfail\" to have senders retry until %s answers", key, name))))
	}
	return f
}

// key is the config section of the entry's scanner ("scan.rspamd").
func (en *entry) key() string {
	if en.Key != "" {
		return en.Key
	}
	if k, ok := strings.CutSuffix(en.SizeKey, ".max_size"); ok {
		return k
	}
	return "scan." + string(en.Scanner.Kind())
}

func scannerAddr(s Scanner) string {
	switch s := s.(type) {
	case *Rspamd:
		return s.Addr
	case *Spamd:
		return s.Addr
	case *Clamd:
		return s.Addr
	case *Milter:
		return s.Addr
	}
	return s.Name()
}

// expected says what a scanner's address must lead to.
func expected(s Scanner) string {
	switch s.(type) {
	case *Rspamd:
		return "rspamd's normal worker (port 11333), not its controller (11334) or proxy (11332)"
	case *Spamd:
		return "SpamAssassin's spamd (port 783)"
	case *Clamd:
		return "clamd's TCPSocket or LocalSocket (clamd.conf)"
	case *Milter:
		return "a milter speaking protocol version 6"
	}
	return "the scanner"
}

func scannerLimitName(s Scanner) string {
	switch s.(type) {
	case *Clamd:
		return "StreamMaxLength in clamd.conf"
	case *Rspamd:
		return "max_message in rspamd's options"
	}
	return "its own setting"
}
