// Command tsdb-platform is the Pulumi program that deploys GreptimeDB and QuasarDB
// clusters onto Kubernetes. The whole program lives in package stacks, so tests can
// run every stack in-process under Pulumi's mocks.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"tsdb-platform/stacks"
)

func main() {
	pulumi.Run(stacks.Program)
}
