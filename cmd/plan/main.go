// Command plan prints a committed stack's startup plan: the stages in which the
// Kubernetes provider waits for objects to become ready, per cluster, and the
// critical-path length. It runs the program in-process under mocks, so it needs
// neither a cluster nor the Pulumi CLI.
//
//	go run ./cmd/plan --stack dev             # stages and critical path
//	go run ./cmd/plan --stack dev --mermaid   # the same as a Mermaid flowchart
//	go run ./cmd/plan --stack dev --detail    # every awaited and non-awaited object
//	go run ./cmd/plan --doc                   # docs/startup-order.md for every stack
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"tsdb-platform/plan"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", "dev", "committed stack to plan (Pulumi.<stack>.yaml at the repository root)")
	mermaid := fs.Bool("mermaid", false, "print a Mermaid flowchart instead of the stage list")
	detail := fs.Bool("detail", false, "print every awaited object per cluster, and what is not awaited and why")
	doc := fs.Bool("doc", false, "print "+plan.DocPath+" for every committed stack")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "plan: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	if *doc {
		out, err := plan.DocumentStacks()
		if err != nil {
			fmt.Fprintf(stderr, "plan: %v\n", err)
			return 1
		}
		fmt.Fprint(stdout, out)
		return 0
	}
	p, err := plan.Run(*stack)
	if err != nil {
		fmt.Fprintf(stderr, "plan: %v\n", err)
		return 1
	}
	switch {
	case *mermaid:
		fmt.Fprint(stdout, p.Mermaid())
	case *detail:
		fmt.Fprint(stdout, p.Detail())
	default:
		fmt.Fprint(stdout, p.Text())
	}
	if len(p.Problems) > 0 {
		return 1
	}
	return 0
}
