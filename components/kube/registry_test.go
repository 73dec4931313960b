package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRegistryImageReplacesTheRegistry(t *testing.T) {
	r := Registry{Prefix: "registry.example.com/mirror"}
	for ref, want := range map[string]string{
		"busybox:1.37.0":                     "registry.example.com/mirror/library/busybox:1.37.0",
		"docker.io/library/busybox:1.37.0":   "registry.example.com/mirror/library/busybox:1.37.0",
		"greptime/greptimedb:v1.1.4":         "registry.example.com/mirror/greptime/greptimedb:v1.1.4",
		"quay.io/coreos/etcd:v3.5.21":        "registry.example.com/mirror/coreos/etcd:v3.5.21",
		"localhost:5000/qdb:3.14.1":          "registry.example.com/mirror/qdb:3.14.1",
		"bureau14/qdb@sha256:0123456789abcd": "registry.example.com/mirror/bureau14/qdb@sha256:0123456789abcd",
	} {
		assert.Equal(t, want, r.Image(ref), ref)
	}
	assert.Equal(t, "busybox:1.37.0", Registry{}.Image("busybox:1.37.0"), "no prefix: the image as given")
}
