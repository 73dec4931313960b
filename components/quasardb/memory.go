package quasardb

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The limiter's thresholds, in percent of the container's memory limit. The hard
// limit stays below the container limit so QuasarDB evicts from its caches before
// the kernel's OOM killer ends the pod; the soft limit is where eviction starts.
const (
	hardLimitPercent = 90
	softLimitPercent = 80
)

// MemoryLimiter is QuasarDB's memory limiter, in bytes
// (QDB_MEMORY_LIMIT_SOFT and QDB_MEMORY_LIMIT_HARD).
type MemoryLimiter struct {
	SoftBytes int64
	HardBytes int64
}

// MemoryLimiterFor derives the limiter from a container memory limit given as a
// Kubernetes quantity ("2Gi"): hard at 90% and soft at 80% of it.
func MemoryLimiterFor(containerLimit string) (MemoryLimiter, error) {
	if containerLimit == "" {
		return MemoryLimiter{}, errors.New("required: the memory limiter is set below the container's memory limit")
	}
	q, err := resource.ParseQuantity(containerLimit)
	if err != nil {
		return MemoryLimiter{}, fmt.Errorf("%q is not a Kubernetes quantity: %w", containerLimit, err)
	}
	limit := q.Value() // bytes, rounded up
	m := MemoryLimiter{SoftBytes: percentOf(limit, softLimitPercent), HardBytes: percentOf(limit, hardLimitPercent)}
	if m.SoftBytes <= 0 {
		return MemoryLimiter{}, fmt.Errorf("%q is too small for a memory limiter", containerLimit)
	}
	return m, nil
}

// percentOf returns pct percent of n, rounded down, without overflowing for any
// int64 n (it divides before it multiplies).
func percentOf(n, pct int64) int64 {
	return n/100*pct + n%100*pct/100
}
