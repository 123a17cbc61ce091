package queue

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ebbmail/ebb/internal/mailhdr"
)

// The Message-ID and Subject a received message carries (for the journal)
// are the ones a reading of the stored copy's header finds, as the journal
// once read them from the spool file: folded, written "Subject :", after
// an mbox line, the first of two, none below where the header ended at
// text, none in a message without a header.
func TestReceivedMessageCarriesItsMessageIDAndSubject(t *testing.T) {
	q := openQueue(t, testConfig(t))
	env := &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}}
	long := "X-Long: " + strings.Repeat("z", 70<<10) + "\r\n"
	for _, tc := range []struct{ data, msgid, subject string }{
		{"Message-ID: <1@x>\r\nSubject: hello\r\n\r\nbody\r\n", "<1@x>", "hello"},
		{"subject:   folded\r\n\tover two\r\nMESSAGE-id:\r\n <2@x>\r\n\r\n", "<2@x>", "folded\tover two"},
		{"Subject : obsolete form\nMessage-Id : <3@x>\n\nbody\n", "<3@x>", "obsolete form"},
		{"From someone Mon Dec  7 20:00:00 2026\r\nSubject: after mbox\r\n\r\n", "", "after mbox"},
		{"Subject: first\r\nSubject: second\r\nMessage-ID: <a@x>\r\nMessage-ID: <b@x>\r\n\r\n", "<a@x>", "first"},
		{"Subject: above\r\nthis line is text\r\nMessage-ID: <hidden@x>\r\n\r\n", "", "above"},
		{"no header at all\r\nSubject: no\r\n", "", ""},
		{"Subject: =?utf-8?q?caf=C3=A9?= \"q\" <&>\r\n\r\n", "", "=?utf-8?q?caf=C3=A9?= \"q\" <&>"},
		{long + "Subject: past 64 KiB of header\r\n\r\n", "", ""},
		{"Subject: at the end, no body", "", "at the end, no body"},
		{"Delivered-To: a@x\r\nSubject: s\r\ndelivered-to:\r\n <B@X>\r\nDelivered-To : c@x\r\n\r\n", "", "s"},
		{"Content-Type: text/plain\r\nContent-type:\r\n multipart/mixed; boundary=x\r\n\r\n--x--\r\n", "", ""},
	} {
		var got *Message
		opt := ReceiveOptions{Check: func(_ context.Context, m *Message) (string, error) { got = m; return "", nil }}
		if _, err := q.Receive(context.Background(), env, strings.NewReader(tc.data), opt); err != nil {
			t.Fatal(err)
		}
		if !got.HeaderSeen {
			t.Errorf("%.40q: HeaderSeen false on receive", tc.data)
		}
		if got.MessageID != tc.msgid || got.Subject != tc.subject {
			t.Errorf("%.40q: Message-ID %q, Subject %q; want %q, %q", tc.data, got.MessageID, got.Subject, tc.msgid, tc.subject)
		}
		// The reading of the stored copy agrees.
		f, err := got.OpenData()
		if err != nil {
			t.Fatal(err)
		}
		h, _ := mailhdr.Read(bufio.NewReader(io.LimitReader(f, 64<<10)), 64<<10)
		f.Close()
		var ct string // the last one, as the report intake reads it
		for _, f := range h.Fields {
			if f.Is("Content-Type") {
				ct = f.Value()
			}
		}
		var dt []string // every one, as the loop check reads them
		for _, f := range h.Fields {
			if f.Is("Delivered-To") {
				dt = append(dt, f.Value())
			}
		}
		if strings.Join(dt, "|") != strings.Join(got.DeliveredTo, "|") || got.ManyDeliveredTo {
			t.Errorf("%.40q: Delivered-To %q (many %v), the stored header's are %q", tc.data, got.DeliveredTo, got.ManyDeliveredTo, dt)
		}
		if ct != got.ContentType {
			t.Errorf("%.40q: Content-Type %q, the stored header's last is %q", tc.data, got.ContentType, ct)
		}
		if h.Value("Message-Id") != got.MessageID || h.Value("Subject") != got.Subject {
			t.Errorf("%.40q: the stored header reads %q, %q; the message carries %q, %q", tc.data,
				h.Value("Message-Id"), h.Value("Subject"), got.MessageID, got.Subject)
		}
	}
}

// writeCounter counts the writes made to it.
type writeCounter struct {
	writes int
	bytes.Buffer
}

func (w *writeCounter) Write(p []byte) (int, error) { w.writes++; return w.Buffer.Write(p) }

// The spool's copy gathers small reads (the header comes a field per
// read) into writes of at least writeAtLeast octets: one write for a small
// message; the octets as they came, and the 8-bit octet seen wherever it
// is. Large reads are written as they come, and each read is offered the
// whole buffer once the gathering is done (so that a pooled reader can
// fill it directly).
func TestCopyDataGathersSmallReads(t *testing.T) {
	for _, c := range []struct {
		data   string
		src    func(io.Reader) io.Reader
		writes int
	}{
		{"Subject: x\r\nTo: y\r\n\r\nbody\r\n", iotest.OneByteReader, 1},
		{strings.Repeat("z", 150<<10) + "\xe9", iotest.OneByteReader, (150<<10)/writeAtLeast + 1},
		{strings.Repeat("z", 150<<10) + "\xe9", func(r io.Reader) io.Reader { return r }, 3},
	} {
		var w writeCounter
		buf := make([]byte, 64<<10)
		rs := &readSizes{r: c.src(strings.NewReader(c.data))}
		n, eight, err := copyData(&w, rs, buf)
		if err != nil || n != int64(len(c.data)) || w.String() != c.data {
			t.Fatalf("copied %d of %d octets, %v", n, len(c.data), err)
		}
		if w.writes != c.writes || eight != strings.Contains(c.data, "\xe9") {
			t.Errorf("%d octets: %d writes, 8-bit %v; want %d writes", len(c.data), w.writes, eight, c.writes)
		}
		if rs.full == 0 {
			t.Errorf("%d octets: no read was offered the whole buffer", len(c.data))
		}
	}
}

// readSizes counts the reads offered a whole 64 KiB buffer.
type readSizes struct {
	r    io.Reader
	full int
}

func (r *readSizes) Read(p []byte) (int, error) {
	if len(p) == 64<<10 {
		r.full++
	}
	return r.r.Read(p)
}

// Past MaxDeliveredTo values a message carries none, and says so: the
// loop check then reads the file.
func TestManyDeliveredToAreNotCarried(t *testing.T) {
	q := openQueue(t, testConfig(t))
	env := &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}}
	for _, n := range []int{MaxDeliveredTo, MaxDeliveredTo + 1} {
		data := strings.Repeat("Delivered-To: x@example.test\r\n", n) + "\r\nbody\r\n"
		var got *Message
		opt := ReceiveOptions{Check: func(_ context.Context, m *Message) (string, error) { got = m; return "", nil }}
		if _, err := q.Receive(context.Background(), env, strings.NewReader(data), opt); err != nil {
			t.Fatal(err)
		}
		if many := n > MaxDeliveredTo; got.ManyDeliveredTo != many || many != (got.DeliveredTo == nil) || !many && len(got.DeliveredTo) != n {
			t.Errorf("%d fields: %d carried, many %v", n, len(got.DeliveredTo), got.ManyDeliveredTo)
		}
	}
}

// A Message-ID or Subject that the header holds only past its first 64
// KiB of fields is not taken (as a reader of the stored header bounded to
// 64 KiB finds none), but it is named in Unshown, and the journal's
// received record says it was not read rather than that there is none.
func TestFieldsPast64KiBAreNamedUnshown(t *testing.T) {
	q := openQueue(t, testConfig(t))
	env := &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}}
	long := "X-Long: " + strings.Repeat("z", 70<<10) + "\r\n"
	for _, tc := range []struct {
		data           string
		msgid, subject string
		unshown        []string
	}{
		{long + "Subject: past\r\nMessage-ID: <p@x>\r\n\r\n", "", "", []string{"Subject", "Message-ID"}},
		{"Subject: early\r\n" + long + "Message-ID: <p@x>\r\nSubject: again\r\nmessage-id: <q@x>\r\n\r\n", "", "early", []string{"Message-ID"}},
		{"Message-ID: <e@x>\r\nSubject: early\r\n" + long + "Subject: again\r\n\r\n", "<e@x>", "early", nil},
		{long + "X-Other: o\r\n\r\n", "", "", nil},
	} {
		var got *Message
		opt := ReceiveOptions{Check: func(_ context.Context, m *Message) (string, error) { got = m; return "", nil }}
		if _, err := q.Receive(context.Background(), env, strings.NewReader(tc.data), opt); err != nil {
			t.Fatal(err)
		}
		if got.MessageID != tc.msgid || got.Subject != tc.subject || strings.Join(got.Unshown, ",") != strings.Join(tc.unshown, ",") {
			t.Errorf("%.40q: Message-ID %q, Subject %q, unshown %q; want %q, %q, %q", tc.data, got.MessageID, got.Subject, got.Unshown, tc.msgid, tc.subject, tc.unshown)
		}
	}
}
