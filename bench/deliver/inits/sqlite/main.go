// Command sqlite links only modernc.org/sqlite (the directory's driver,
// with its transpiled libc) and exits: that share of ebb-deliver's
// start-up, which every delivery pays, with or without a lookup.
package main

import _ "modernc.org/sqlite"

func main() {}
