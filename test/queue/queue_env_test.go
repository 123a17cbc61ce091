package queue

import (
	"regexp"
	"syscall"
)

var queuedAs = regexp.MustCompile(`250 2\.0\.0 Ok: queued as ([0-9A-Z]+)`)

type syscallStat = syscall.Stat_t
