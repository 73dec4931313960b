// Command etcd is the etcd server the test suite runs (the kube-apiserver tests
// and the simulated cluster in tests/kubeapi), built from the version pinned in
// this module's go.mod by scripts/sim-tools.sh.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
