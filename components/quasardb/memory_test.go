package quasardb

import (
	"math"
	"testing"
)

func TestMemoryLimiterFor(t *testing.T) {
	const gi = int64(1) << 30
	tests := []struct {
		limit      string
		soft, hard int64
	}{
		{"2Gi", 2 * gi * 80 / 100, 2 * gi * 90 / 100},
		{"8Gi", 8 * gi * 80 / 100, 8 * gi * 90 / 100},
		{"1000M", 800_000_000, 900_000_000},
		{"512Mi", 512 << 20 * 80 / 100, 512 << 20 * 90 / 100},
		{"1001", 800, 900}, // rounded down to whole bytes
	}
	for _, tt := range tests {
		t.Run(tt.limit, func(t *testing.T) {
			got, err := MemoryLimiterFor(tt.limit)
			if err != nil {
				t.Fatalf("MemoryLimiterFor(%q): %v", tt.limit, err)
			}
			if got.SoftBytes != tt.soft || got.HardBytes != tt.hard {
				t.Errorf("MemoryLimiterFor(%q) = soft %d hard %d, want soft %d hard %d",
					tt.limit, got.SoftBytes, got.HardBytes, tt.soft, tt.hard)
			}
			if !(got.SoftBytes < got.HardBytes) {
				t.Errorf("soft %d must be below hard %d", got.SoftBytes, got.HardBytes)
			}
		})
	}
}

func TestMemoryLimiterStaysBelowTheContainerLimit(t *testing.T) {
	for _, limit := range []string{"1Mi", "3Gi", "7.5Gi", "123456789", "1Ti"} {
		got, err := MemoryLimiterFor(limit)
		if err != nil {
			t.Fatalf("MemoryLimiterFor(%q): %v", limit, err)
		}
		if got.HardBytes <= 0 || got.SoftBytes <= 0 {
			t.Errorf("%s: limiter must be positive, got %+v", limit, got)
		}
	}
}

func TestMemoryLimiterRejectsBadLimits(t *testing.T) {
	for _, limit := range []string{"", "lots", "1"} {
		if got, err := MemoryLimiterFor(limit); err == nil {
			t.Errorf("MemoryLimiterFor(%q) = %+v, want an error", limit, got)
		}
	}
}

func TestPercentOfDoesNotOverflow(t *testing.T) {
	if got, want := percentOf(math.MaxInt64, 90), int64(math.MaxInt64/100*90+7*90/100); got != want {
		t.Errorf("percentOf(MaxInt64, 90) = %d, want %d", got, want)
	}
	if got := percentOf(1000, 80); got != 800 {
		t.Errorf("percentOf(1000, 80) = %d, want 800", got)
	}
}
