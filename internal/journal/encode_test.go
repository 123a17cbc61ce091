package journal

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// reflected is Record without its methods: what encoding/json makes of
// it by reflection, the reference AppendJSON is held to.
type reflected Record

// sameAsJSON checks that AppendJSON writes what json.Marshal writes, and
// that it reads back as the record it came from.
func sameAsJSON(t *testing.T, r Record) {
	t.Helper()
	want, werr := json.Marshal((*reflected)(&r))
	got, gerr := AppendJSON([]byte("prefix"), &r)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("json.Marshal error %v, AppendJSON error %v", werr, gerr)
	}
	if werr != nil {
		return
	}
	got, ok := bytes.CutPrefix(got, []byte("prefix"))
	if !ok {
		t.Fatalf("AppendJSON did not append: %q", got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendJSON wrote\n%s\njson.Marshal\n%s", got, want)
	}
	var back, ref Record
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("%s does not read back: %v", got, err)
	}
	json.Unmarshal(want, &ref)
	if !reflect.DeepEqual(back, ref) {
		t.Fatalf("read back %+v, want %+v", back, ref)
	}
}

func TestAppendJSONIsJSONMarshal(t *testing.T) {
	now := time.Date(2026, 12, 7, 21, 3, 4, 500600700, time.UTC)
	de := &diag.Error{Op: "create", Doing: "create a file in", Path: "/mail/<bob>&/tmp", Errno: "EACCES",
		Reason: "permission denied", Class: diag.Temporary, Hint: "make it \"writable\"", Ref: "R1",
		Who: &diag.Identity{UID: 5000}, Remote: &diag.Remote{Host: "mx", Code: 450, Text: "a\nb"}}
	for _, r := range []Record{
		{},
		{Time: now, Event: "received", QueueID: "A1"},
		{Time: now, Event: "received", QueueID: "A1", From: "a@b", To: []string{"c@d", "e@f"}, MessageID: "<x@y>",
			Subject: "=?utf-8?q?h=C3=A9?= \"quoted\" \\ back <html> & more", Size: 65536, Client: "192.0.2.1",
			Helo: "h", Auth: "u", Proto: "ESMTPS", Listener: "inbound"},
		{Time: now, Event: "received", QueueID: "A2", Unshown: []string{"Message-ID", "Subject"}},
		{Time: now, Event: "deferred", QueueID: "A1", Rcpt: "c@d", Route: "local", Attempt: 3, Millis: 12,
			Next: now.Add(time.Minute), Error: de, Detail: "x"},
		{Time: now.In(time.FixedZone("x", 3600)), Event: "delivered", QueueID: "A1", Next: now.In(time.FixedZone("y", -7200)),
			Files: []string{"/m/new/1", "/m/new/2"}, UID: 5000, Outcome: "o", Checker: "spf", Verdicts: "v",
			NextID: "N", Host: "h2", DSNID: "D", Ref: "R", Stage: "data", Reply: "550 5.7.1 no"},
		{Time: now, Event: "x", QueueID: "ctl \x00\x01\x08\x0c\n\r\t\x1f\x7f", Subject: "bad \xff\xfe utf8 \xe2\x80 end",
			Detail: "sep \u2028 \u2029 é 😀", From: "\xed\xa0\x80"}, // a surrogate half is invalid UTF-8
		{Time: now, Event: "x", QueueID: "i", To: []string{}, Files: []string{""}, Size: -1, Attempt: -2, UID: -3},
		{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Event: "too late", QueueID: "i"}, // an error for both
	} {
		sameAsJSON(t, r)
	}
}

// FuzzAppendJSON holds AppendJSON to json.Marshal for any text in the
// fields (corpus in testdata/fuzz/FuzzAppendJSON).
func FuzzAppendJSON(f *testing.F) {
	f.Add("received", "A1", "<x@y>", "subject \"q\" <&>", "a@b", int64(1024), int64(1765000000), 0)
	f.Add("x", "\x00\r\n\t", "\xff", "\u2028", "\xe2\x80", int64(-1), int64(0), 5)
	f.Fuzz(func(t *testing.T, ev, id, msgid, subject, from string, size, unix int64, nano int) {
		r := Record{Time: time.Unix(unix, int64(nano)).UTC(), Event: ev, QueueID: id, MessageID: msgid, Subject: subject,
			From: from, To: []string{from, subject}, Size: size, Detail: subject + msgid, Files: []string{id}}
		if size%2 == 0 {
			r.Next = time.Unix(size, 0)
			r.Error = &diag.Error{Op: ev, Reason: subject, Path: msgid}
		}
		sameAsJSON(t, r)
	})
}

// BenchmarkEncode: a received record, as encoding/json encoded it before
// (reflection) and as AppendJSON does.
func BenchmarkEncode(b *testing.B) {
	r := Record{Time: time.Now().UTC(), Event: "received", QueueID: "0d4kq3v7x2m1a", From: "alice@example.org",
		To: []string{"bob@example.test"}, MessageID: "<20261207210304.123@client.example.org>", Subject: "Re: the report",
		Size: 1024, Client: "127.0.0.1", Helo: "client.example.org", Proto: "ESMTP", Listener: "inbound"}
	b.Run("reflection", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal((*reflected)(&r))
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf, _ = AppendJSON(buf[:0], &r)
		}
	})
}

// TestAppendJSONWritesEveryField fills every field of Record, found by
// reflection, so that a field added to Record and not to AppendJSON (the
// hand-written encoder would leave it out of every journal line, silently)
// fails here rather than in ebb explain.
func TestAppendJSONWritesEveryField(t *testing.T) {
	var r Record
	v := reflect.ValueOf(&r).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeOf(time.Time{}):
			f.Set(reflect.ValueOf(time.Date(2026, 12, 7, 22, 0, i, 0, time.UTC)))
		case f.Type() == reflect.TypeOf(&diag.Error{}):
			f.Set(reflect.ValueOf(&diag.Error{Op: "op", Reason: "why", Ref: "R"}))
		case f.Kind() == reflect.String:
			f.SetString("v" + v.Type().Field(i).Name)
		case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
			f.SetInt(int64(i + 1))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{"a" + v.Type().Field(i).Name, "b"}))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		default:
			t.Fatalf("Record.%s: a %s this test cannot fill: teach it (and AppendJSON)", v.Type().Field(i).Name, f.Type())
		}
	}
	sameAsJSON(t, r)
}
