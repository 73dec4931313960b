//go:build tools

// Package tools records the build-only dependencies on the Kubernetes control
// plane binaries so that `go build k8s.io/kubernetes/cmd/...` resolves from this
// module: kube-apiserver for the API-server tests, kube-controller-manager and
// kube-scheduler for the simulated cluster (tests/kubeapi/cluster.go).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
