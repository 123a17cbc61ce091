package directory

import "time"

// SetSettle makes the database's files count as left alone after d (see
// settle) for one test, so that the stat path is taken at once; it
// returns the function that restores it.
func SetSettle(d time.Duration) func() {
	old := settle
	settle = d
	return func() { settle = old }
}
