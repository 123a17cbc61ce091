package sendmail

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/ebbmail/ebb/internal/envaddr"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// Caller is who runs sendmail and how bare names are qualified.
type Caller struct {
	// Login is the user name of the real uid.
	Login string
	// Name is the full-name default ($NAME), used when -F is not given.
	Name string
	// Domain qualifies bare names: "root" becomes root@Domain.
	Domain string
	// Hostname goes into a generated Message-ID.
	Hostname string
}

// Message is a message ready for the queue: its envelope, its header block
// (fixed), and the rest of its body still to be read from stdin.
type Message struct {
	Sender     string // "" is the null sender
	Recipients []string
	Header     *Header
	Body       io.Reader
	// Body8Bit is the -B option (7BIT or 8BITMIME), "" when not given.
	BodyType string
}

// DataError is input sendmail cannot turn into a message (exit 65, EX_DATAERR).
type DataError struct{ Msg string }

func (e *DataError) Error() string { return e.Msg }

// ExitCode is EX_DATAERR.
func (e *DataError) ExitCode() int { return 65 }

// LocalCaller is who runs this process: the login of the real uid, $NAME,
// and the domain that qualifies bare names (domain, else hostname, else
// this host's name, else "localhost").
func LocalCaller(hostname, domain string) Caller {
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	if hostname == "" {
		hostname = "localhost"
	}
	if domain == "" {
		domain = hostname
	}
	login := strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(login); err == nil {
		login = u.Username
	}
	return Caller{Login: login, Name: os.Getenv("NAME"), Domain: domain, Hostname: hostname}
}

// MaxAddressLength bounds one address (RFC 5321 §4.5.3.1: 64 + 1 + 255).
const MaxAddressLength = 320

// Prepare reads the header block from stdin and builds the message: the
// envelope sender (-f, else the login at Domain), the recipients (the command
// line, plus To/Cc/Bcc with -t, Bcc then removed), and Date, Message-ID and
// From added when missing. The body is left in Message.Body to be streamed.
func Prepare(o *Options, stdin io.Reader, c Caller, now time.Time) (*Message, error) {
	in := bufio.NewReaderSize(NewInput(stdin, o.IgnoreDots), 64<<10)
	h, err := ReadHeader(in)
	if err != nil {
		if errors.Is(err, ErrHeaderTooLarge) {
			return nil, &DataError{Msg: err.Error()}
		}
		return nil, fmt.Errorf("read the message from standard input: %w", err)
	}
	m := &Message{Header: h, Body: in, BodyType: o.Body}
	m.Sender = c.Login + "@" + c.Domain
	if o.SenderSet {
		m.Sender = Qualify(o.Sender, c.Domain)
	}
	if err := checkAddress(m.Sender, true); err != nil {
		return nil, &DataError{Msg: fmt.Sprintf("sender %q: %v", o.Sender, err)}
	}
	rcpts := append([]string(nil), o.Recipients...)
	if o.ExtractRecipients {
		rcpts = append(rcpts, h.Recipients()...)
		h.RemoveBcc()
	}
	seen := map[string]bool{}
	for _, r := range rcpts {
		for _, a := range splitArg(r) {
			a = Qualify(a, c.Domain)
			if err := checkAddress(a, false); err != nil {
				return nil, &DataError{Msg: fmt.Sprintf("recipient %q: %v", a, err)}
			}
			k := strings.ToLower(a)
			if !seen[k] {
				seen[k] = true
				m.Recipients = append(m.Recipients, a)
			}
		}
	}
	if len(m.Recipients) == 0 {
		if o.ExtractRecipients {
			return nil, &UsageError{Msg: "no recipient addresses: none on the command line and none in To:, Cc: or Bcc:"}
		}
		return nil, &UsageError{Msg: "no recipient addresses given (name them on the command line, or use -t to take them from To:, Cc: and Bcc:)"}
	}
	from := m.Sender
	if from == "" {
		from = c.Login + "@" + c.Domain
	}
	name := o.FullName
	if name == "" {
		name = c.Name
	}
	h.Apply(Fixup{Now: now, Hostname: c.Hostname, From: from, FullName: name})
	return m, nil
}

// splitArg splits a command-line recipient that holds a list ("a@x, b@y"),
// which mailx users and scripts write.
func splitArg(s string) []string {
	if !strings.ContainsAny(s, ",<(\"") {
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
		return []string{s}
	}
	return ParseAddressList(s)
}

// Qualify appends @domain to a bare name ("root"), as sendmail does with its
// own host name. An address that has a domain is returned unchanged.
func Qualify(addr, domain string) string {
	addr = strings.TrimSpace(addr)
	if addr == "" || domain == "" {
		return addr
	}
	if strings.Contains(addr, "@") {
		return addr
	}
	return addr + "@" + domain
}

// checkAddress refuses what the queue could not use as an envelope
// address: it asks envaddr, the one parser that MAIL FROM and RCPT TO are
// judged by too (no local part that needs quotes, no control characters,
// no routing by local part), so that sendmail never hands over an address
// the daemon would refuse or could not bounce to.
func checkAddress(a string, sender bool) error {
	if a == "" {
		if sender {
			return nil
		}
		return errors.New("empty address")
	}
	if len(a) > MaxAddressLength {
		return fmt.Errorf("longer than %d characters", MaxAddressLength)
	}
	if _, err := envaddr.Parse(a); err != nil {
		return errors.New(err.(*envaddr.Error).Message)
	}
	return nil
}
