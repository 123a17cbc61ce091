// Package sendmail is the sendmail(8) compatible front end: the command line
// that cron, mailx, PHP and scripts use, and the fixes a message written by
// such a program needs before it enters the queue (Date, Message-ID, From,
// recipients from the headers, line endings).
//
// The command line is parsed the way sendmail and Postfix parse it (getopt
// with attached or separate values: -FCronDaemon and -F CronDaemon), not with
// Go's flag package, whose rules would reject what real callers send.
package sendmail

import (
	"fmt"
	"strings"
)

// Mode is what the invocation asks for.
type Mode int

const (
	// ModeDeliver (-bm, the default) reads a message from stdin and queues it.
	ModeDeliver Mode = iota
	// ModeSMTP (-bs) speaks SMTP on stdin/stdout.
	ModeSMTP
	// ModeMailq (-bp, or invoked as mailq) lists the queue.
	ModeMailq
	// ModeFlush (-q) retries the queue now.
	ModeFlush
	// ModeNewAliases (-bi, -I, or invoked as newaliases): ebb keeps aliases
	// in its directory, so there is nothing to rebuild.
	ModeNewAliases
	// ModeIgnore (-bh, -bH, -qInterval): accepted for compatibility, does nothing.
	ModeIgnore
)

func (m Mode) String() string {
	switch m {
	case ModeDeliver:
		return "deliver"
	case ModeSMTP:
		return "smtp"
	case ModeMailq:
		return "mailq"
	case ModeFlush:
		return "flush"
	case ModeNewAliases:
		return "newaliases"
	case ModeIgnore:
		return "ignore"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Options is a parsed sendmail command line.
type Options struct {
	Mode Mode
	// ExtractRecipients (-t): recipients also come from To, Cc and Bcc (or
	// the Resent- ones), and Bcc is removed. Command-line recipients are
	// added to them, as Postfix does since 2.1 (sendmail 8 and Exim remove
	// them instead; adding is the least surprising for scripts).
	ExtractRecipients bool
	// IgnoreDots (-i, -oi): a line with a lone "." does not end the input.
	IgnoreDots bool
	// Sender (-f, -r) is the envelope sender; SenderSet tells "-f ''" (the
	// null sender) from no -f at all.
	Sender    string
	SenderSet bool
	// FullName (-F) is the name in a From: header that ebb adds.
	FullName string
	// Body (-B) is 7BIT or 8BITMIME, "" when not given.
	Body string
	// DSN options (RFC 3461): -N notify, -R ret, -V envid. Kept for the
	// envelope; they do not change what ebb sends.
	Notify string
	Ret    string
	EnvID  string
	// Config (-C) is an ebb config file to use instead of the default.
	Config string
	// FlushID (-qI<id>) and FlushSite (-qR<site>) narrow a flush.
	FlushID   string
	FlushSite string
	Verbose   bool
	// Recipients are the addresses on the command line, in order.
	Recipients []string
	// Ignored lists the options accepted for compatibility and ignored, as
	// written, for a verbose log.
	Ignored []string
}

// UsageError is a command line ebb cannot accept (exit 64, EX_USAGE).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ExitCode is EX_USAGE.
func (e *UsageError) ExitCode() int { return 64 }

func usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// takesValue lists the option letters that take a value, attached (-FName) or
// as the next argument (-F Name): Postfix's getopt list
// "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx" plus sendmail 8's -d
// (debug) and -M (macro).
var takesValue = map[byte]bool{
	'A': true, 'B': true, 'C': true, 'F': true, 'L': true, 'N': true, 'O': true,
	'R': true, 'V': true, 'X': true, 'b': true, 'e': true, 'f': true, 'h': true,
	'o': true, 'p': true, 'r': true, 'q': true, 'd': true, 'M': true,
}

// flagOnly lists the option letters without a value that are accepted.
var flagOnly = map[byte]bool{
	't': true, 'i': true, 'v': true, 'm': true, 'n': true, 'G': true, 'U': true,
	'I': true, 'c': true, 'x': true, '4': true, '6': true,
}

// oWithoutValue lists the sendmail 8 -o options that carry no value of their
// own, so that "-o x value" can take the next argument as x's value only for
// the others.
var oWithoutValue = map[string]bool{"i": true, "m": true, "7": true, "8": true}

// Parse reads a sendmail command line (without argv[0]). name is the program
// name it was invoked as ("sendmail", "mailq", "newaliases"), which chooses
// the default mode as in Postfix.
//
// Options may follow recipients (GNU-style permutation); "--" ends the
// options, and everything after it is a recipient.
func Parse(name string, args []string) (*Options, error) {
	o := &Options{}
	switch name {
	case "mailq":
		o.Mode = ModeMailq
	case "newaliases":
		o.Mode = ModeNewAliases
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.Recipients = append(o.Recipients, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			o.Recipients = append(o.Recipients, a)
			continue
		}
		// "-q" alone is not getopt compatible in Postfix either: it means
		// "flush now", while "-q1h" is a daemon interval.
		if a == "-q" {
			o.Mode = ModeFlush
			continue
		}
		// A cluster: -ti, -oi, -FCronDaemon, -f user@x.
		for j := 1; j < len(a); j++ {
			c := a[j]
			if !takesValue[c] {
				if !flagOnly[c] {
					return nil, usagef("unknown option -%c in %q", c, a)
				}
				o.flag(c)
				continue
			}
			val := a[j+1:]
			if val == "" {
				if i+1 >= len(args) {
					return nil, usagef("option -%c needs a value", c)
				}
				i++
				val = args[i]
				// "-o x value": a sendmail 8 option letter given alone,
				// with its value as one more argument.
				if c == 'o' && len(val) == 1 && !oWithoutValue[val] && i+1 < len(args) {
					o.Ignored = append(o.Ignored, "-o "+val+" "+args[i+1])
					i++
					break
				}
			}
			if err := o.value(c, val); err != nil {
				return nil, err
			}
			break
		}
	}
	if o.ExtractRecipients && o.Mode != ModeDeliver {
		return nil, usagef("-t can be used only when sending a message (not with -b%s)", modeLetter(o.Mode))
	}
	if len(o.Recipients) > 0 && o.Mode != ModeDeliver && o.Mode != ModeIgnore {
		return nil, usagef("%s mode takes no recipients, but %q was given", o.Mode, o.Recipients[0])
	}
	return o, nil
}

func modeLetter(m Mode) string {
	switch m {
	case ModeSMTP:
		return "s"
	case ModeMailq:
		return "p"
	case ModeNewAliases:
		return "i"
	}
	return m.String()
}

func (o *Options) flag(c byte) {
	switch c {
	case 't':
		o.ExtractRecipients = true
	case 'i':
		o.IgnoreDots = true
	case 'v':
		o.Verbose = true
	case 'I':
		o.Mode = ModeNewAliases
	default:
		// -m (me too), -n (no aliasing), -G (gateway), -U (initial
		// submission), -c, -x, -4, -6: nothing for ebb to do.
		o.Ignored = append(o.Ignored, "-"+string(c))
	}
}

func (o *Options) value(c byte, v string) error {
	switch c {
	case 'f', 'r':
		// "-f <>" and "-f ''" are the null sender (RFC 5321 §4.5.5).
		v = strings.TrimSpace(v)
		if v == "<>" {
			v = ""
		}
		if strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") {
			v = v[1 : len(v)-1]
		}
		o.Sender, o.SenderSet = v, true
	case 'F':
		o.FullName = v
	case 'B':
		switch strings.ToUpper(v) {
		case "8BITMIME":
			o.Body = "8BITMIME"
		case "7BIT":
			o.Body = "7BIT"
		default:
			return usagef("-B needs 8BITMIME or 7BIT, not %q", v)
		}
	case 'N':
		o.Notify = v
	case 'R':
		o.Ret = v
	case 'V':
		o.EnvID = v
	case 'C':
		o.Config = v
	case 'o':
		switch v {
		case "i":
			o.IgnoreDots = true
		default:
			// -oem, -oee, -odi, -odb, -om, -o7, -o8, -oQ/dir...
			o.Ignored = append(o.Ignored, "-o"+v)
		}
	case 'b':
		switch v {
		case "m":
			o.Mode = ModeDeliver
		case "s":
			o.Mode = ModeSMTP
		case "p":
			o.Mode = ModeMailq
		case "i":
			o.Mode = ModeNewAliases
		case "h", "H":
			o.Mode = ModeIgnore
		case "d":
			return usagef("-bd (daemon mode) is not how ebb runs: start the daemon with ebb serve")
		case "v":
			return usagef("-bv (verify addresses) is not supported: use ebb directory resolve ADDRESS")
		default:
			return usagef("unsupported mode -b%s", v)
		}
	case 'q':
		switch {
		case strings.HasPrefix(v, "I"):
			if o.FlushID = v[1:]; o.FlushID == "" {
				return usagef("-qI needs a queue id: -qIID")
			}
			o.Mode = ModeFlush
		case strings.HasPrefix(v, "R"):
			if o.FlushSite = v[1:]; o.FlushSite == "" {
				return usagef("-qR needs a site: -qRexample.org")
			}
			o.Mode = ModeFlush
		default:
			// -q1h, -q30m: a daemon's run interval; ebb's scheduler
			// retries on its own. Postfix also exits 0 here.
			o.Mode = ModeIgnore
			o.Ignored = append(o.Ignored, "-q"+v)
		}
	default:
		// -A, -L, -O, -X, -e, -h, -p, -d, -M: accepted and ignored.
		o.Ignored = append(o.Ignored, "-"+string(c)+" "+v)
	}
	return nil
}
