package queue

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readData reads a queued message's data through OpenData.
func readData(t *testing.T, m *Message) string {
	t.Helper()
	f, err := m.OpenData()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// One file per message: the data as received, the envelope, the trailer.
// Readers of the data see the data alone.
func TestOneFilePerMessage(t *testing.T) {
	q := openQueue(t, testConfig(t))
	body := "Subject: one file\r\n\r\nbody\r\n"
	id := receive(t, q, "a@example.org", body, "b@example.test", "c@example.test")
	if files := spoolFiles(t, q); !slices.Equal(files, []string{id + msgExt}) {
		t.Fatalf("spool after one receive: %v", files)
	}
	raw, err := os.ReadFile(q.msgPath(id))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), body) {
		t.Fatalf("the file does not start with the data:\n%q", raw)
	}
	tr := raw[len(raw)-trailerLen:]
	n, _, err := parseTrailer(tr)
	if err != nil || !strings.HasPrefix(string(tr), "#ebbq1 ") {
		t.Fatalf("trailer %q: %v", tr, err)
	}
	env := raw[len(body) : len(raw)-trailerLen]
	if int64(len(env)) != n {
		t.Fatalf("trailer says %d bytes of envelope, there are %d", n, len(env))
	}
	m, err := DecodeMessage(env)
	if err != nil || m.ID != id || m.Size != int64(len(body)) || len(m.Recipients) != 2 {
		t.Fatalf("envelope in the file: %+v, %v", m, err)
	}
	m, err = ReadMessage(q.spool, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := readData(t, m); got != body {
		t.Fatalf("OpenData read %q, want the data alone %q", got, body)
	}
	// Seeking back reads it again (the relay does, per transaction).
	d, _ := m.OpenData()
	io.Copy(io.Discard, d)
	d.Seek(0, io.SeekStart)
	again, _ := io.ReadAll(d)
	d.Close()
	if string(again) != body {
		t.Fatalf("after a seek: %q", again)
	}
}

// An attempt that defers writes <id>.state; a restart takes the envelope
// from it, not the one the message arrived with; once everything is
// delivered both files go.
func TestChangedEnvelopeWinsAfterARestart(t *testing.T) {
	cfg := testConfig(t)
	q := openQueue(t, cfg)
	id := receive(t, q, "a@example.org", "Subject: x\r\n\r\nx\r\n", "ok@example.test", "later@example.test")
	rec := newRecorder()
	rec.setOutcome(func(rcpt string) error {
		if rcpt == "later@example.test" {
			return tempError("not now")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx, Transports{Local: rec}) }()
	rec.wait(t)
	eventually(t, "the deferral stored", func() bool {
		_, err := os.Stat(q.statePath(id))
		return err == nil
	})
	cancel()
	<-done
	q.Close()

	q2 := openQueue(t, cfg)
	m, ok := q2.Lookup(id)
	if !ok {
		t.Fatal("message lost over the restart")
	}
	if m.Recipients[0].State != Delivered || m.Recipients[1].State != Deferred || m.Recipients[1].Attempts == 0 {
		t.Fatalf("after the restart the envelope is not the stored one: %+v %+v", m.Recipients[0], m.Recipients[1])
	}
	rec2 := newRecorder()
	run(t, q2, Transports{Local: rec2})
	if d := rec2.wait(t); d.Rcpt != "later@example.test" {
		t.Fatalf("retried %s", d.Rcpt)
	}
	eventually(t, "spool empty", func() bool { return len(spoolFiles(t, q2)) == 0 })
	if n := rec2.count("ok@example.test"); n != 0 {
		t.Fatalf("the recipient delivered before the restart got %d more", n)
	}
}

// copySpoolV1 puts testdata/spool-v1 (a spool written by ebb at 58ee0a5,
// before one file per message: three messages, one deferred after an
// attempt, one held, one fresh with a prefix and 8-bit data) in a fresh
// spool and returns its config.
func copySpoolV1(t *testing.T) (cfgDir string, data map[string]string) {
	t.Helper()
	cfg := testConfig(t)
	dir := filepath.Join(cfg.Queue.Spool, QueueDir)
	if err := os.MkdirAll(cfg.Queue.Spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", "testdata/spool-v1", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	data = map[string]string{}
	for _, id := range []string{"HOV2FRPT6TJ5HWG", "HOV2FRRTVZOX2IN", "HOV2FRV2LHT4URU"} {
		b, err := os.ReadFile(filepath.Join(dir, id+oldDataExt))
		if err != nil {
			t.Fatal(err)
		}
		data[id] = string(b)
	}
	return cfg.Queue.Spool, data
}

func TestSpoolOfTheFormatBeforeIsConvertedAtStart(t *testing.T) {
	cfg := testConfig(t)
	spool, data := copySpoolV1(t)
	cfg.Queue.Spool = spool
	// mailq reads it as it is, before any start.
	l, err := List(spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Messages) != 3 || l.Incomplete != 0 || len(l.Damaged) != 0 {
		t.Fatalf("mailq of the old spool: %+v", l)
	}
	for _, m := range l.Messages {
		if got := readData(t, m); got != data[m.ID] {
			t.Fatalf("mailq's %s reads %q, want %q", m.ID, got, data[m.ID])
		}
	}

	q := openQueue(t, cfg)
	files := spoolFiles(t, q)
	if want := []string{"HOV2FRPT6TJ5HWG.q", "HOV2FRRTVZOX2IN.q", "HOV2FRV2LHT4URU.q"}; !slices.Equal(files, want) {
		t.Fatalf("after the start: %v, want %v", files, want)
	}
	deferred, _ := q.Lookup("HOV2FRPT6TJ5HWG")
	held, _ := q.Lookup("HOV2FRRTVZOX2IN")
	fresh, _ := q.Lookup("HOV2FRV2LHT4URU")
	if deferred == nil || held == nil || fresh == nil {
		t.Fatal("a converted message is missing")
	}
	if deferred.Recipients[0].State != Delivered || deferred.Recipients[1].State != Deferred ||
		deferred.Recipients[1].Error == nil || deferred.Recipients[1].Error.Ref != "EQQ7KOLA" || len(deferred.History) != 2 {
		t.Fatalf("the deferred message's state: %+v %+v", deferred.Recipients[1], deferred.History)
	}
	if !held.Held || held.Envelope.From != "" {
		t.Fatalf("the held message: %+v", held)
	}
	if !fresh.Envelope.EightBit || fresh.Envelope.BodyType != "8BITMIME" ||
		fresh.Envelope.Prefix != "Received: from client by mx.example.test id HOV2FRV2LHT4URU\r\n" {
		t.Fatalf("the fresh message's envelope: %+v", fresh.Envelope)
	}
	for _, m := range []*Message{deferred, held, fresh} {
		if got := readData(t, m); got != data[m.ID] {
			t.Fatalf("%s after the conversion reads %q, want %q", m.ID, got, data[m.ID])
		}
	}
	// Delivered as before: the fresh one, and the deferred recipient (on
	// a flush, whenever its next attempt was); the held one waits.
	rec := newRecorder()
	run(t, q, Transports{Local: rec})
	if _, err := q.Flush("HOV2FRPT6TJ5HWG"); err != nil {
		t.Fatal(err)
	}
	got := map[string]delivery{}
	for range 2 {
		d := rec.wait(t)
		got[d.ID] = d
	}
	if d := got["HOV2FRV2LHT4URU"]; d.Rcpt != "bob@example.test" || d.Content != fresh.Envelope.Prefix+data[d.ID] {
		t.Fatalf("the fresh message: delivered %+v", got)
	}
	if d := got["HOV2FRPT6TJ5HWG"]; d.Rcpt != "erin@remote.example" || d.Content != data[d.ID] {
		t.Fatalf("the deferred recipient: delivered %+v", got)
	}
	eventually(t, "only the held message left", func() bool {
		return slices.Equal(spoolFiles(t, q), []string{"HOV2FRRTVZOX2IN.q"})
	})
	if rec.count("frank@example.test") != 0 || rec.count("dave@example.test") != 0 {
		t.Fatal("the held message or the recipient delivered before the conversion was delivered")
	}
}

// A conversion is repeated after a crash at any step: after the envelope
// was appended to the old data file (not renamed yet), and after the
// rename (the old envelope not removed yet). Each message comes out once,
// with its data alone.
func TestConversionCutShortIsRepeated(t *testing.T) {
	cfg := testConfig(t)
	spool, data := copySpoolV1(t)
	cfg.Queue.Spool = spool
	dir := filepath.Join(spool, QueueDir)
	// HOV2FRPT6TJ5HWG: a trailer already appended to its .msg, then the crash.
	m1, err := readEnvelopeFile(filepath.Join(dir, "HOV2FRPT6TJ5HWG.env"))
	if err != nil {
		t.Fatal(err)
	}
	env, _ := encodeMessage(m1)
	f, _ := os.OpenFile(filepath.Join(dir, "HOV2FRPT6TJ5HWG.msg"), os.O_WRONLY|os.O_APPEND, 0)
	f.Write(appendTrailer(env, env))
	f.Close()
	// HOV2FRV2LHT4URU: converted and renamed, its .env still there.
	q0 := &Queue{dir: dir, spool: spool}
	se := &spoolEntry{id: "HOV2FRV2LHT4URU", msgPath: filepath.Join(dir, "HOV2FRV2LHT4URU.q"),
		oldDataPath: filepath.Join(dir, "HOV2FRV2LHT4URU.msg"), oldEnvPath: filepath.Join(dir, "HOV2FRV2LHT4URU.env")}
	m3, _ := readEnvelopeFile(se.oldEnvPath)
	envBefore, _ := os.ReadFile(se.oldEnvPath)
	if err := q0.convertOld(se, m3); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(se.oldEnvPath, envBefore, 0o600)

	// mailq meanwhile: three messages, each once, each its data.
	l, err := List(spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Messages) != 3 {
		t.Fatalf("mailq of the half-converted spool: %d messages", len(l.Messages))
	}
	for _, m := range l.Messages {
		if got := readData(t, m); got != data[m.ID] {
			t.Fatalf("mailq's %s reads %q", m.ID, got)
		}
	}
	q := openQueue(t, cfg)
	files := spoolFiles(t, q)
	if want := []string{"HOV2FRPT6TJ5HWG.q", "HOV2FRRTVZOX2IN.q", "HOV2FRV2LHT4URU.q"}; !slices.Equal(files, want) {
		t.Fatalf("after the start: %v, want %v", files, want)
	}
	for id, want := range data {
		m, ok := q.Lookup(id)
		if !ok {
			t.Fatalf("%s missing", id)
		}
		if got := readData(t, m); got != want {
			t.Fatalf("%s reads %q, want %q", id, got, want)
		}
	}
}

// A conversion that cannot be done stops the start and names the file; the
// message stays in the format before, for the next start.
func TestConversionFailureStopsTheStart(t *testing.T) {
	cfg := testConfig(t)
	spool, _ := copySpoolV1(t)
	cfg.Queue.Spool = spool
	dir := filepath.Join(spool, QueueDir)
	// A data file shorter than its envelope says (disk trouble): it
	// cannot be made whole.
	os.WriteFile(filepath.Join(dir, "HOV2FRRTVZOX2IN.msg"), []byte("From: x"), 0o600)
	_, err := Open(cfg, testLog(t))
	if err == nil || !strings.Contains(err.Error(), "HOV2FRRTVZOX2IN.msg") {
		t.Fatalf("Open: %v, want an error naming the file", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "HOV2FRRTVZOX2IN.env")); err != nil {
		t.Fatalf("the old envelope is gone: %v", err)
	}
}

// The receive writes the file in one pass: kill -9 at any byte leaves a
// file that the next start either removes (no trailer: never
// acknowledged) or loads whole. Every prefix of a real message file is
// tried.
func TestEveryCutOfAMessageFileIsUnfinishedOrWhole(t *testing.T) {
	q := openQueue(t, testConfig(t))
	id := receive(t, q, "a@example.org", "Subject: cut\r\n\r\nbody\r\n", "b@example.test")
	raw, err := os.ReadFile(q.msgPath(id))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), id+msgExt)
	for n := 0; n <= len(raw); n++ {
		os.WriteFile(p, raw[:n], 0o600)
		m, kind, err := readEntry(&spoolEntry{id: id, msg: true, msgPath: p})
		switch {
		case n == len(raw):
			if kind != kindMessage || m.ID != id {
				t.Fatalf("the whole file: kind %d, %v", kind, err)
			}
		case kind != kindUnfinished:
			t.Fatalf("cut at %d of %d: kind %d (%v), want unfinished", n, len(raw), kind, err)
		}
	}
	// Zeros where the data was (a crash before the flush, on a filesystem
	// that keeps the size but not the blocks) with the trailer intact:
	// the envelope's checksum fails on zeros; the data's zeros pass (the
	// message was never acknowledged: its client sends it again).
	zeroed := bytes.Repeat([]byte{0}, len(raw))
	copy(zeroed[len(raw)-trailerLen:], raw[len(raw)-trailerLen:])
	os.WriteFile(p, zeroed, 0o600)
	if _, kind, _ := readEntry(&spoolEntry{id: id, msg: true, msgPath: p}); kind != kindDamaged {
		t.Fatalf("zeroed envelope: kind %d, want damaged", kind)
	}
}

func TestTrailerRoundTrip(t *testing.T) {
	env := []byte(`{"version":1}` + "\n")
	b := appendTrailer(nil, env)
	if len(b) != trailerLen {
		t.Fatalf("trailer %q is %d bytes, want %d", b, len(b), trailerLen)
	}
	n, sum, err := parseTrailer(b)
	if err != nil || n != int64(len(env)) || sum == 0 {
		t.Fatalf("parse %q: %d %08x %v", b, n, sum, err)
	}
}
