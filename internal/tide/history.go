// Package tide is the queue-tide page: a picture of the queue over time
// (depth, deliveries and deferrals per minute), the causes of what waits
// with their fixes, and the oldest messages with their stories, served
// on the metrics listener at "/". It keeps its own small history on disk
// (a sample a minute) so that it works without Prometheus and survives a
// restart. Server-rendered HTML with inline SVG: no script, no outside
// asset, readable on a phone.
package tide

import (
	"bufio"
	"encoding/json"
	"os"
	"sync"
	"time"
)

// Sample is the queue at one minute: its depth and the counters since the
// daemon started (deltas between samples give rates; a restart resets
// them, which Rates handles).
type Sample struct {
	T         time.Time `json:"t"`
	Messages  int       `json:"messages"`
	Pending   int       `json:"pending"`
	Deferred  int       `json:"deferred"` // recipients waiting after a failed attempt
	Delivered uint64    `json:"delivered"`
	Deferrals uint64    `json:"deferrals"` // deferred attempts
	Failed    uint64    `json:"failed"`
}

// History is the samples of the last week (at one a minute, 10,080), in a
// file of JSON lines that is compacted when it holds twice that.
type History struct {
	path string
	max  int

	mu      sync.Mutex
	samples []Sample
	lines   int // lines in the file
}

// Week is how many samples a history keeps (one a minute).
const Week = 7 * 24 * 60

// OpenHistory loads path (a missing file is an empty history; a torn or
// bad line is skipped).
func OpenHistory(path string, max int) *History {
	h := &History{path: path, max: max}
	f, err := os.Open(path)
	if err != nil {
		return h
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		h.lines++
		var s Sample
		if json.Unmarshal(sc.Bytes(), &s) == nil && !s.T.IsZero() {
			h.samples = append(h.samples, s)
		}
	}
	if len(h.samples) > max {
		h.samples = h.samples[len(h.samples)-max:]
	}
	return h
}

// Add appends s (one write of one line); when the file holds twice max
// lines it is rewritten with the last max.
func (h *History) Add(s Sample) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
	if len(h.samples) > h.max {
		h.samples = h.samples[len(h.samples)-h.max:]
	}
	if h.lines >= 2*h.max {
		return h.compactLocked()
	}
	b, _ := json.Marshal(s)
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer f.Close()
	h.lines++
	_, err = f.Write(append(b, '\n'))
	return err
}

func (h *History) compactLocked() error {
	tmp := h.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, s := range h.samples {
		b, _ := json.Marshal(s)
		w.Write(append(b, '\n'))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	h.lines = len(h.samples)
	return os.Rename(tmp, h.path)
}

// Since returns the samples from t on.
func (h *History) Since(t time.Time) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Sample
	for _, s := range h.samples {
		if !s.T.Before(t) {
			out = append(out, s)
		}
	}
	return out
}

// Rate is what happened between two samples, per minute.
type Rate struct {
	T         time.Time
	Delivered float64
	Deferrals float64
}

// Rates turns cumulative counters into per-minute rates; across a
// restart (a counter that went down) the later value is the count.
func Rates(ss []Sample) []Rate {
	var out []Rate
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1], ss[i]
		min := b.T.Sub(a.T).Minutes()
		if min <= 0 {
			continue
		}
		d, f := delta(a.Delivered, b.Delivered), delta(a.Deferrals, b.Deferrals)
		out = append(out, Rate{T: b.T, Delivered: float64(d) / min, Deferrals: float64(f) / min})
	}
	return out
}

func delta(a, b uint64) uint64 {
	if b < a {
		return b
	}
	return b - a
}
