package passwd

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGateBoundsCountAndMemory(t *testing.T) {
	const mib = 1 << 20
	g := NewGate(4, 100*mib) // 4 at once, but only 3 of 32 MiB fit
	var running, peak atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := g.Acquire(context.Background(), 32*mib)
			if err != nil {
				t.Error(err)
				return
			}
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			running.Add(-1)
			release()
		}()
	}
	wg.Wait()
	if p := peak.Load(); p != 3 {
		t.Errorf("peak %d verifications at once, want 3 (100 MiB / 32 MiB)", p)
	}
	if g.Slots(32*mib) != 3 || g.Slots(1) != 4 || g.Slots(500*mib) != 1 {
		t.Errorf("Slots: %d %d %d", g.Slots(32*mib), g.Slots(1), g.Slots(500*mib))
	}
}

func TestGateWaitEndsWithTheContext(t *testing.T) {
	g := NewGate(1, 0)
	release, _ := g.Acquire(context.Background(), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := g.Acquire(ctx, 1); err != context.DeadlineExceeded {
		t.Fatalf("Acquire on a full gate: %v, want deadline exceeded", err)
	}
	if g.Waiting() != 0 {
		t.Errorf("a timed-out waiter stays queued")
	}
	release()
	r2, err := g.Acquire(context.Background(), 1)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	r2()
}

func TestGateOversizedHashRunsAlone(t *testing.T) {
	g := NewGate(4, 10)
	r1, _ := g.Acquire(context.Background(), 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := g.Acquire(ctx, 1); err == nil {
		t.Errorf("a second verification ran beside one that takes the whole budget")
	}
	r1()
}

func TestCost(t *testing.T) {
	h, _ := Policy{Argon2: Argon2{MemoryKiB: 8192, Time: 1, Threads: 1}}.Hash("x")
	for stored, want := range map[string]int64{
		h: 8 << 20,
		"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2g": 64 << 20,
		"{SHA512-CRYPT}$6$salt$x":                   64 << 10,
		"{ARGON2ID}$argon2id$v=19$m=zz,t=3,p=1$a$b": 64 << 10,
	} {
		if got := Cost(stored); got != want {
			t.Errorf("Cost(%.40s) = %d, want %d", stored, got, want)
		}
	}
}

// FuzzCost: any stored string gives a cost without panicking, never
// negative and never more than an argon2 m= can ask for (2^32 KiB).
func FuzzCost(f *testing.F) {
	for _, s := range []string{
		"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
		"$argon2i$v=19$m=4096,t=3,p=1$c2FsdA$aGFzaA",
		"{ARGON2ID}$argon2id$v=19$m=99999999999999999999,t=3,p=1$a$b",
		"{SHA512-CRYPT}$6$salt$x", "{PLAIN}pw", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c := Cost(s); c <= 0 || c > (1<<32+1)<<10 {
			t.Errorf("Cost(%q) = %d", s, c)
		}
	})
}

// A verification marked First goes before those that waited without it.
func TestGateFirstGoesAhead(t *testing.T) {
	g := NewGate(1, 0)
	release, _ := g.Acquire(context.Background(), 1)
	order := make(chan string, 4)
	var wg sync.WaitGroup
	wait := func(name string, ctx context.Context) {
		defer wg.Done()
		r, err := g.Acquire(ctx, 1)
		if err != nil {
			t.Error(err)
			return
		}
		order <- name
		time.Sleep(time.Millisecond)
		r()
	}
	for i, name := range []string{"guess1", "guess2", "guess3"} {
		wg.Add(1)
		go wait(name, context.Background())
		for g.Waiting() < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Add(1)
	go wait("owner", First(context.Background()))
	for g.Waiting() < 4 {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	close(order)
	var got []string
	for n := range order {
		got = append(got, n)
	}
	if fmt.Sprint(got) != "[owner guess1 guess2 guess3]" {
		t.Errorf("order %v, want the owner first, then the guesses in turn", got)
	}
}
