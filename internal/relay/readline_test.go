package relay

import (
	"bufio"
	"strings"
	"testing"
)

// A reply line without an end is refused at the buffer's size, not read
// into memory whole.
func TestReadLineBounded(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("250 ok\r\n"+strings.Repeat("x", 100<<10)), 4096)
	if line, err := readLine(br); err != nil || line != "250 ok" {
		t.Fatalf("first line = %q, %v", line, err)
	}
	if line, err := readLine(br); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("endless line = %d bytes, %v; want a bound error", len(line), err)
	}
}
