package arfield

import "testing"

func TestAuthservID(t *testing.T) {
	for in, want := range map[string]string{
		" mx.example.net; spf=pass":      "mx.example.net",
		" mx.example.net 1; none":        "mx.example.net",
		" (c (nested)) Mx.Example.Net;":  "mx.example.net",
		"\r\n\t\"quoted\\\"id\"; none":   "quoted\"id",
		" (unterminated mx.example.net;": "",
		"":                               "",
	} {
		if got := AuthservID(in); got != want {
			t.Errorf("AuthservID(%q) = %q, want %q", in, got, want)
		}
	}
}
