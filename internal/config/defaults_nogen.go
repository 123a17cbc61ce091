//go:build ebbgendefaults

package config

// Built with the tag ebbgendefaults (by go generate, while gendefaults
// rewrites defaults_generated.go, which may no longer compile): the
// defaults and checks come from the reflection.
const haveGenerated = false

func genDefaults() *Config { return nil }

func genValidate(*Config) []Problem { return nil }
