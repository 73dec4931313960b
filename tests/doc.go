// Package tests holds the program's behaviour tests: every committed stack run under
// Pulumi's mocks, the bad-configuration table, and the graph and manifest assertions.
package tests
