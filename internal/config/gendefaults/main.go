// Command gendefaults writes internal/config/defaults_generated.go, the
// config's defaults and `oneof`/`min` checks as code, from the struct tags
// (config.GeneratedSource). Run it after changing a key or its tags, from
// the repository's root, with
//
//	go generate ./internal/config
//
// (gen.go's go:generate line runs it in internal/config with the tag
// ebbgendefaults, which leaves the old file out of the build, so a file
// that no longer compiles is replaced too). TestGeneratedDefaults fails
// while the file is not up to date.
package main

import (
	"fmt"
	"go/format"
	"os"

	"github.com/ebbmail/ebb/internal/config"
)

func main() {
	src, err := config.GeneratedSource()
	if err == nil {
		src, err = format.Source(src)
	}
	if err == nil {
		err = os.WriteFile("defaults_generated.go", src, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendefaults:", err)
		os.Exit(1)
	}
}
