package reports

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// reportMail is one report as a message: the header fields of its kind,
// a short text part and the attachment.
type reportMail struct {
	From, To  string
	Subject   string
	Extra     []string // more header fields, "Name: value"
	MediaType string   // of the whole message: multipart/report; report-type="tlsrpt", or multipart/mixed
	Text      string
	AttachCT  string // application/tlsrpt+gzip, application/gzip
	FileName  string
	Data      []byte
	Host      string // for the Message-ID
	Date      time.Time
}

// bytes renders the message with CRLF line ends: 7-bit, the attachment in
// base64 lines of 76 characters (RFC 2045 §6.8).
func (m reportMail) bytes() []byte {
	var b bytes.Buffer
	line := func(format string, a ...any) {
		fmt.Fprintf(&b, format, a...)
		b.WriteString("\r\n")
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	boundary := "ebb-report-" + hex.EncodeToString(rnd[:])
	line("From: %s", m.From)
	line("To: %s", m.To)
	line("Subject: %s", m.Subject)
	line("Date: %s", m.Date.Format(time.RFC1123Z))
	line("Message-ID: <%s.%s@%s>", m.Date.UTC().Format("20060102150405"), hex.EncodeToString(rnd[:6]), m.Host)
	line("Auto-Submitted: auto-generated") // RFC 3834 §5: nobody should answer it
	for _, x := range m.Extra {
		line("%s", x)
	}
	line("MIME-Version: 1.0")
	line("Content-Type: %s;", m.MediaType)
	line("\tboundary=\"%s\"", boundary)
	line("")
	line("This is a multipart message in MIME format.")
	line("")
	line("--%s", boundary)
	line("Content-Type: text/plain; charset=us-ascii")
	line("Content-Transfer-Encoding: 7bit")
	line("")
	for _, l := range strings.Split(strings.TrimRight(m.Text, "\n"), "\n") {
		line("%s", l)
	}
	line("")
	line("--%s", boundary)
	line("Content-Type: %s", m.AttachCT)
	line("Content-Transfer-Encoding: base64")
	line("Content-Disposition: attachment;")
	line("\tfilename=\"%s\"", m.FileName)
	line("")
	enc := base64.StdEncoding.EncodeToString(m.Data)
	for len(enc) > 76 {
		line("%s", enc[:76])
		enc = enc[76:]
	}
	if enc != "" {
		line("%s", enc)
	}
	line("")
	line("--%s--", boundary)
	return b.Bytes()
}
