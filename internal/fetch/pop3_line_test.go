package fetch

import (
	"bufio"
	"strings"
	"testing"
)

// A reply line without an end is refused at the buffer's size, not read
// into memory whole.
func TestPOP3ReadLineBounded(t *testing.T) {
	c := &popClient{r: bufio.NewReaderSize(strings.NewReader("+OK ready\r\n"+strings.Repeat("x", 200<<10)), 64<<10)}
	line, err := c.readLine()
	if err != nil || line != "+OK ready\r\n" {
		t.Fatalf("first line = %q, %v", line, err)
	}
	if line, err := c.readLine(); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("endless line = %d bytes, %v; want a bound error", len(line), err)
	}
}
