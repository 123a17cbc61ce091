package queue

import (
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// mailq quotes the setting an attempt used; when the config says otherwise
// now (a reload, an edit), it says both instead of a stale line (issue 21).
func TestNoteSettingsSaysAChangedSetting(t *testing.T) {
	cfg, err := config.Parse("ebb.toml", []byte("[mail]\nroot = \"/srv/new\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	stale := &diag.Error{Op: "create", Doing: "create a file in", Path: "/srv/old/x/tmp", Reason: "permission denied",
		Setting: &diag.Setting{Key: "mail.root", Value: "/srv/old", Where: "ebb.toml:2"}}
	same := &diag.Error{Op: "create", Reason: "x", Setting: &diag.Setting{Key: "queue.lifetime", Value: "5d", Default: true}}
	flag := &diag.Error{Op: "create", Reason: "x", Setting: &diag.Setting{Key: "--maildir", Value: "/m"}}
	l := &Listing{Messages: []*Message{{ID: "A", Recipients: []*Recipient{
		{Address: "a@x", State: Deferred, Error: stale}, {Address: "b@x", State: Deferred, Error: same}, {Address: "c@x", State: Deferred, Error: flag}}}}}
	NoteSettings(l, cfg)
	if s := stale.Sentence(); !strings.Contains(s, `mail.root = "/srv/old" at ebb.toml:2, when it failed; the config says "/srv/new" now`) {
		t.Errorf("stale setting: %s", s)
	}
	if same.Setting.Now != nil || flag.Setting.Now != nil {
		t.Errorf("unchanged settings marked: %v %v", same.Setting.Now, flag.Setting.Now)
	}
}
