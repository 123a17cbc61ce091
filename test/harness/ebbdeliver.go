package harness

import "testing"

var mdaBuild binaryBuild

// EbbDeliver returns the path of the small MDA binary ebb-deliver:
// $EBB_DELIVER_BIN when set (the test command builds it beside ebb), else a
// build of ./cmd/ebb-deliver made once per test process.
func EbbDeliver(t testing.TB) string {
	t.Helper()
	return mdaBuild.path(t, "EBB_DELIVER_BIN", "./cmd/ebb-deliver", "ebb-deliver")
}
