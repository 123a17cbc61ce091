package main

import (
	"github.com/ebbmail/ebb/internal/cluster"
	"github.com/ebbmail/ebb/internal/mda"
)

// deliverCmd is ebb deliver (internal/mda; also the ebb-deliver binary),
// with the SQL directory and shared state the whole binary links.
var deliverCmd = mda.Command(cluster.MDAOptions())
