package queue

import (
	"bytes"
	"testing"
)

// FuzzEnvelope feeds the envelope file reader arbitrary bytes: it must
// never panic, and whatever it accepts must survive being written back and
// read again unchanged (the daemon rewrites envelopes after every round).
// Seeds: testdata/fuzz/FuzzEnvelope.
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"HOL00000AAAAAA","envelope":{"from":"a@example.org","recipients":["b@example.test"]},"size":3,"arrived":"2026-11-28T14:00:00Z","recipients":[{"address":"b@example.test","state":"pending"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			return
		}
		b, err := encodeMessage(m)
		if err != nil {
			t.Fatalf("accepted but cannot encode: %v", err)
		}
		m2, err := DecodeMessage(b)
		if err != nil {
			t.Fatalf("re-read of our own output failed: %v\n%s", err, b)
		}
		b2, _ := encodeMessage(m2)
		if !bytes.Equal(b, b2) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
		// What mailq does with an accepted envelope must not panic either.
		Summarize(&Listing{Messages: []*Message{m}})
		for _, r := range m.Recipients {
			if r.Error != nil {
				r.Error.Sentence()
				GeneralReason(r.Error, r.Address)
			}
		}
	})
}

// FuzzMessageFile feeds the message file reader (<id>.q: data, envelope,
// trailer) arbitrary bytes: it must never panic, and what it accepts has
// its envelope just before the trailer and Size bytes of data before it.
// Seeds: a real message file, and testdata/fuzz/FuzzMessageFile.
func FuzzMessageFile(f *testing.F) {
	env := []byte(`{"version":1,"id":"HOL00000AAAAAA","envelope":{"from":"a@example.org","recipients":["b@example.test"]},"size":3,"arrived":"2026-11-28T14:00:00Z","recipients":[{"address":"b@example.test","state":"pending"}]}` + "\n")
	f.Add(appendTrailer(append([]byte("x\r\n"), env...), env))
	f.Add(appendTrailer(append([]byte("abc"), env...), env))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := readMessageAt(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		n, _, perr := parseTrailer(data[len(data)-trailerLen:])
		if perr != nil || m.Size+n+int64(trailerLen) != int64(len(data)) {
			t.Fatalf("accepted a file of %d bytes: data %d, envelope %d, trailer %v", len(data), m.Size, n, perr)
		}
		if _, err := DecodeMessage(data[m.Size : m.Size+n]); err != nil {
			t.Fatalf("accepted, but the envelope before the trailer does not decode: %v", err)
		}
	})
}
