package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// row is one measurement, RUNS times.
type row struct {
	what  string
	times []time.Duration
}

func (r row) sorted() []time.Duration {
	s := slices.Clone(r.times)
	slices.Sort(s)
	return s
}

// median of an even count is the mean of the middle two.
func (r row) median() time.Duration {
	s := r.sorted()
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// table is the rows as a Markdown table, the first row (the operator) the
// reference of the ratio column.
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| what | min | median | max | median / operator's median |\n|---|---|---|---|---|\n")
	ref := rows[0].median()
	for _, r := range rows {
		s := r.sorted()
		ratio := "n/a"
		if ref > 0 {
			ratio = fmt.Sprintf("%.1f×", float64(r.median())/float64(ref))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.what, secs(s[0]), secs(r.median()), secs(s[len(s)-1]), ratio)
	}
	return b.String()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
