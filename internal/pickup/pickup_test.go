package pickup

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb\n":   "a\r\nb\r\n",
		"a\r\nb\n": "a\r\nb\r\n",
		"\n\n":     "\r\n\r\n",
		"x":        "x",
		"":         "",
	} {
		b, err := io.ReadAll(iotest.OneByteReader(NewCRLF(strings.NewReader(in))))
		if err != nil || string(b) != want {
			t.Errorf("%q → %q %v, want %q", in, b, err, want)
		}
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	f := filepath.Join(t.TempDir(), "e")
	w, _ := os.Create(f)
	WriteEnvelope(w, &Envelope{From: "", Recipients: []string{"a@x"}, BodyType: "8BITMIME"})
	w.Close()
	b, _ := os.ReadFile(f)
	if !strings.HasPrefix(string(b), Magic) {
		t.Fatalf("%q", b)
	}
}
