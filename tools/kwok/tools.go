//go:build tools

// Package tools records the build-only dependency on kwok, which plays the
// kubelets of the simulated cluster's fake nodes (tests/kubeapi/cluster.go), so
// that `go build sigs.k8s.io/kwok/cmd/kwok` resolves from this module.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
