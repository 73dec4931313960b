//go:build tools

// Package tools records the build-only dependency on the GreptimeDB operator,
// which the peer benchmark (tests/cmd/benchpeer) runs against the simulated
// cluster, so that `go build .../cmd/operator` resolves from this module.
package tools

import (
	_ "github.com/GreptimeTeam/greptimedb-operator/cmd/operator"
)
