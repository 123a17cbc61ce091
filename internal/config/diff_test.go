package config

import (
	"fmt"
	"testing"
)

func TestChangedNamesEveryKeyThatDiffers(t *testing.T) {
	old := Defaults()
	new, err := Parse("ebb.toml", []byte("[mail]\nroot = \"/srv/mail\"\n[queue]\nworkers = 4\n[smtp]\nlisten = [\"127.0.0.1:2525\"]\n[log]\nlevel = \"debug\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(Changed(old, new))
	want := "[{mail.root /var/vmail /srv/mail} {queue.workers 32 4} {smtp.listen 0.0.0.0:25 127.0.0.1:2525} {log.level info debug}]"
	if got != want {
		t.Errorf("Changed = %s\nwant      %s", got, want)
	}
	if c := Changed(old, Defaults()); len(c) != 0 {
		t.Errorf("two default configs differ in %v", c)
	}
}
