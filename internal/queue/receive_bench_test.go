package queue

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkReceive measures accepting 1 KiB messages from 10 concurrent
// receivers (no delivery), each durable before Receive returns.
func BenchmarkReceive(b *testing.B) {
	for _, mode := range []string{"filesystem", "files"} {
		b.Run("sync="+mode, func(b *testing.B) { benchmarkReceive(b, mode) })
	}
}

func benchmarkReceive(b *testing.B, mode string) {
	cfg := testConfigB(b)
	cfg.Queue.Sync = mode
	q, err := Open(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	body := "Subject: bench\r\n\r\n" + strings.Repeat("x", 1024)
	b.SetParallelism(10)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := q.Receive(context.Background(), &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}}, strings.NewReader(body), ReceiveOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
