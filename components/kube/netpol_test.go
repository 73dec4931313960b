package kube

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCanonicalFlows(t *testing.T) {
	a, b, c := PodsPeer(map[string]string{"x": "a"}), PodsPeer(map[string]string{"x": "b"}), Peer{Namespace: "apps"}
	cidr := Peer{CIDR: "10.0.0.0/8"}
	cases := []struct {
		name string
		in   []Flow
		want []Flow
	}{
		{"flows on the same ports become one, each peer once",
			[]Flow{Allow([]int{4000, 3002}, b), Allow([]int{3002, 4000}, a, b)},
			[]Flow{Allow([]int{3002, 4000}, a, b)}},
		{"ordered by ports, then peers; CIDR blocks last",
			[]Flow{Allow([]int{4001}, cidr, b), Allow([]int{2379}, c), Allow([]int{4001}, a)},
			[]Flow{Allow([]int{2379}, c), Allow([]int{4001}, a, b, cidr)}},
		{"a flow to anyone is kept apart",
			[]Flow{Allow([]int{443}), Allow([]int{443}, a), Allow([]int{443})},
			[]Flow{Allow([]int{443}), Allow([]int{443}), Allow([]int{443}, a)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Canonical(tc.in))
			reversed := make([]Flow, len(tc.in))
			for i, f := range tc.in {
				reversed[len(tc.in)-1-i] = f
			}
			assert.Equal(t, tc.want, Canonical(reversed), "the order the flows were listed in does not matter")
		})
	}
}
