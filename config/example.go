package config

import _ "embed"

// Example is a complete commented config showing every key at its default.
//
//go:embed example.yaml
var Example []byte
