//go:build tools

// Package tools records the build-only dependency on kube-apiserver so that
// `go build k8s.io/kubernetes/cmd/kube-apiserver` resolves from this module.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
