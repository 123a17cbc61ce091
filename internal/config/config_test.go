package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPrintedDefaultsParseBackToTheDefaults(t *testing.T) {
	var b bytes.Buffer
	if err := WriteDefaults(&b); err != nil {
		t.Fatal(err)
	}
	c, err := Parse("defaults.toml", b.Bytes())
	if err != nil {
		t.Fatalf("printed defaults do not parse: %v\n%s", err, b.String())
	}
	d := Defaults()
	c.File, c.md, c.locs = "", d.md, nil
	if !reflect.DeepEqual(c, d) {
		t.Errorf("printed defaults differ from Defaults():\n%+v\n%+v", c, d)
	}
}

func TestEveryKeyIsDocumented(t *testing.T) {
	var walk func(t2 reflect.Type, prefix string)
	walk = func(t2 reflect.Type, prefix string) {
		for i := 0; i < t2.NumField(); i++ {
			f := t2.Field(i)
			name := f.Tag.Get("toml")
			if !f.IsExported() || name == "-" {
				continue
			}
			if f.Tag.Get("doc") == "" {
				t.Errorf("%s%s has no doc", prefix, name)
			}
			if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
				walk(f.Type, prefix+name+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
}

func TestProblemsNameFileAndLine(t *testing.T) {
	src := strings.Join([]string{
		"# a comment",
		"[mail]",
		`rot = "/x"`,
		`maildir = "{root}/{dom}"`,
		"[queue]",
		`lifetme = "5d"`,
		"[log]",
		`format = "xml"   # not a format`,
		"[smtp]",
		"max_recipients = 0",
		"[bogus]",
		"x = 1",
	}, "\n")
	_, err := Parse("ebb.toml", []byte(src))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want *Errors, got %v", err)
	}
	want := []string{
		`ebb.toml:3: unknown key "mail.rot"; did you mean "mail.root"?`,
		`ebb.toml:4: mail.maildir: unknown placeholder {dom}`,
		`ebb.toml:6: unknown key "queue.lifetme"; did you mean "queue.lifetime"?`,
		`ebb.toml:8: log.format = "xml" is not allowed; use one of: logfmt, json`,
		`ebb.toml:10: smtp.max_recipients = 0 is too small; the least is 1`,
		`ebb.toml:11: unknown key "bogus"`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestBadValuesNameTheLine(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"[queue]\n\nlifetime = 5\n", "f.toml:3: "},
		{"[queue]\nlifetime = \"5 days\"\n", "f.toml:2: "},
		{"[smtp]\nmax_message_size = \"lots\"\n", "f.toml:2: "},
		{"[mail]\ncreate = \"yes\"\n", "f.toml:2: "},
		{"[mail]\nroot = \n", "f.toml:2: "},
	} {
		_, err := Parse("f.toml", []byte(tc.src))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want prefix %q", tc.src, err, tc.want)
		}
	}
}

func TestSettingSaysWhereAValueCameFrom(t *testing.T) {
	c, err := Parse("/etc/ebb/ebb.toml", []byte("[mail]\n\nroot = \"/srv/mail\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Setting("mail.root")
	if s.Default || s.Value != "/srv/mail" || s.Where != "/etc/ebb/ebb.toml:3" {
		t.Errorf("mail.root: %+v", s)
	}
	s = c.Setting("queue.spool")
	if !s.Default || s.Value != "/var/spool/ebb" {
		t.Errorf("queue.spool: %+v", s)
	}
	if got := s.String(); got != `queue.spool = "/var/spool/ebb", the default` {
		t.Errorf("String: %s", got)
	}
}

func TestDurationsAndSizes(t *testing.T) {
	c, err := Parse("f", []byte("[queue]\nlifetime = \"36h\"\ndelay_notice = \"2d\"\n[smtp]\nmax_message_size = \"1.5M\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue.Lifetime.Duration != 36*time.Hour || c.Queue.DelayNotice.Duration != 48*time.Hour {
		t.Errorf("durations %v %v", c.Queue.Lifetime, c.Queue.DelayNotice)
	}
	if c.SMTP.MaxMessageSize != Size(1.5*(1<<20)) {
		t.Errorf("size %d", c.SMTP.MaxMessageSize)
	}
	for d, want := range map[time.Duration]string{5 * 24 * time.Hour: "5d", 4 * time.Hour: "4h", 90 * time.Second: "1m30s", 0: "0s"} {
		if got := D(d).String(); got != want {
			t.Errorf("%v: %q want %q", d, got, want)
		}
	}
}

func TestLoadWithoutAFileGivesDefaultsOnlyForTheDefaultPath(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("an explicit missing file must be an error")
	}
	// The default path absent (a temp path stands for it: this machine may
	// have an /etc/ebb/ebb.toml of its own) gives the defaults.
	c, err := load("", filepath.Join(t.TempDir(), "ebb.toml"))
	if err != nil {
		t.Fatalf("default path absent: %v", err)
	}
	if c.Server.DataDir != Defaults().Server.DataDir {
		t.Errorf("default path absent: data_dir %q, want the default", c.Server.DataDir)
	}
	// Present, it is read.
	def := filepath.Join(t.TempDir(), "ebb.toml")
	os.WriteFile(def, []byte("[server]\ndata_dir = \"/srv/ebb-test\"\n"), 0o644)
	if c, err := load("", def); err != nil {
		t.Errorf("default path present: %v", err)
	} else if c.Server.DataDir != "/srv/ebb-test" {
		t.Errorf("default path present: data_dir %q, want the file's /srv/ebb-test", c.Server.DataDir)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[mail]\nroot = \"/var/mail\"\n"))
	f.Add([]byte("[a.b]\n'c' = 1 # x\n[[d]]\n"))
	f.Add([]byte("x = \"#\"\n[queue]\nlifetime=\"5d\""))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Any input gives a config or an error; never a panic.
		Parse("fuzz.toml", data)
	})
}

// A duration below its key's least (a negative timeout, a zero where the
// least is 1ms) is refused with file:line like any bad number; one at the
// least passes. The min tags of durations were not checked before.
func TestDurationsBelowTheLeastAreRefused(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"[relay]\nconnect_timeout = \"-5s\"\n", `f.toml:2: relay.connect_timeout = -5s is too small; the least is 1ms`},
		{"[relay]\n\ndead_interval = \"0s\"\n", `f.toml:3: relay.dead_interval = 0s is too small; the least is 1ms`},
		{"[fetch]\nlease = \"500ms\"\n", `f.toml:2: fetch.lease = 500ms is too small; the least is 1s`},
		{"[relay]\nconnect_timeout = \"1ms\"\nidle_timeout = \"0s\"\n", ``},
	} {
		_, err := Parse("f.toml", []byte(tc.src))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.src, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
		}
	}
}
