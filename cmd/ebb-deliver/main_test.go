package main

import (
	"os/exec"
	"strings"
	"testing"
)

// ebb-deliver is started once per message: every package it links runs its
// init in every delivery (issue 28: modernc's SQLite alone cost 1.35 ms of
// each). It resolves -d from the directory's delivery map
// (internal/resolve) and hands anything else to ebb: no SQL, no password
// hashing, no network client or server code, no metrics.
func TestLinksOnlyTheDeliveryPath(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, bad := range []string{
		"modernc.org/sqlite", "database/sql", "github.com/jackc/pgx/v5",
		"github.com/ebbmail/ebb/internal/directory", "github.com/ebbmail/ebb/internal/passwd",
		"golang.org/x/crypto/argon2", "golang.org/x/crypto/bcrypt",
		"github.com/prometheus/client_golang/prometheus", "crypto/tls", "net/http",
		"github.com/ebbmail/ebb/internal/smtpd", "github.com/ebbmail/ebb/internal/relay",
		"github.com/ebbmail/ebb/internal/msgauth", "github.com/ebbmail/ebb/internal/daemon",
		// The config's generator formats with these (gendefaults, its test):
		// linked into internal/config, their inits would run in every delivery.
		"go/format", "go/parser", "go/printer",
	} {
		for _, d := range deps {
			if d == bad {
				t.Errorf("ebb-deliver links %s", bad)
			}
		}
	}
	for _, want := range []string{"github.com/ebbmail/ebb/internal/resolve", "github.com/ebbmail/ebb/internal/deliver"} {
		found := false
		for _, d := range deps {
			found = found || d == want
		}
		if !found {
			t.Errorf("ebb-deliver does not link %s", want)
		}
	}
}
