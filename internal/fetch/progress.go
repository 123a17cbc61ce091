package fetch

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar is ebb fetch run's progress: on a terminal one redrawn line with a
// bar, the count, the rate and the time left; otherwise (a log, a pipe)
// a plain line every 10% or 5 seconds.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	name    string
	total   int
	done    int
	bytes   int64
	start   time.Time
	last    time.Time
	lastPct int
	open    bool
}

// NewBar writes to w, redrawing one line when w is a terminal.
func NewBar(w io.Writer) *Bar {
	f, ok := w.(*os.File)
	return newBar(w, ok && term.IsTerminal(int(f.Fd())))
}

// newBar writes to w; tty says whether w is a terminal.
func newBar(w io.Writer, tty bool) *Bar { return &Bar{w: w, tty: tty} }

func (b *Bar) Folder(account, folder string, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endLine()
	b.name, b.total, b.done, b.bytes = account+"/"+folder, total, 0, 0
	b.start, b.last, b.lastPct = time.Now(), time.Time{}, 0
	if total == 0 {
		fmt.Fprintf(b.w, "%s: no new messages\n", b.name)
		return
	}
	if !b.tty {
		fmt.Fprintf(b.w, "%s: %d new messages\n", b.name, total)
	}
	b.draw(true)
}

func (b *Bar) Message(size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done++
	b.bytes += size
	b.draw(b.done == b.total)
}

// Finish ends the last line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.endLine()
}

func (b *Bar) endLine() {
	if b.open {
		fmt.Fprintln(b.w)
		b.open = false
	}
}

func (b *Bar) draw(force bool) {
	now := time.Now()
	el := now.Sub(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.done) / el
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(b.total-b.done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 0
	if b.total > 0 {
		pct = b.done * 100 / b.total
	}
	if b.tty {
		if !force && now.Sub(b.last) < 100*time.Millisecond {
			return
		}
		const width = 30
		fill := width * pct / 100
		fmt.Fprintf(b.w, "\r%s [%s%s] %d/%d %3d%% %.0f msg/s %s ETA %s   ", b.name,
			strings.Repeat("=", fill), strings.Repeat(" ", width-fill), b.done, b.total, pct, rate,
			humanBytes(b.bytes), eta)
		b.open = true
		b.last = now
		return
	}
	if b.done == 0 {
		return
	}
	if force || pct >= b.lastPct+10 || now.Sub(b.last) > 5*time.Second {
		fmt.Fprintf(b.w, "%s: %d/%d (%d%%), %.0f msg/s, %s, ETA %s\n", b.name, b.done, b.total, pct, rate, humanBytes(b.bytes), eta)
		b.lastPct, b.last = pct, now
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
