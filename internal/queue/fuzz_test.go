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
