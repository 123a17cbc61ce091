package msgauth

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// A failed open of the spool file is described without its path.
func TestNoPath(t *testing.T) {
	_, err := os.Open("/nonexistent/spool/msg-123")
	got := noPath(err)
	if strings.Contains(got, "/nonexistent") || !strings.Contains(got, "open") {
		t.Fatalf("noPath = %q", got)
	}
	if got := noPath(errors.New("plain")); got != "plain" {
		t.Fatalf("noPath(plain) = %q", got)
	}
}
