package config

// Doctor holds the thresholds ebb doctor warns at.
type Doctor struct {
	MinFree       Size  `toml:"min_free" default:"500M" doc:"Warn when a filesystem that ebb writes to has less free space than this."`
	MinFreeInodes int64 `toml:"min_free_inodes" default:"10000" min:"0" doc:"Warn when a filesystem that ebb writes to has fewer free inodes than this."`
}
