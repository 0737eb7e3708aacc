package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// sample is a set of measurements of one figure.
type sample []float64

func durations(ds []time.Duration) sample {
	s := make(sample, len(ds))
	for i, d := range ds {
		s[i] = float64(d) / float64(time.Millisecond)
	}
	return s
}

// q returns the p-quantile (0 ≤ p ≤ 1) by nearest rank; NaN when empty.
func (s sample) q(p float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(math.Ceil(p*float64(len(c)))) - 1
	return c[max(0, min(i, len(c)-1))]
}

func (s sample) median() float64 { return s.q(0.5) }
func (s sample) p90() float64    { return s.q(0.9) }
func (s sample) p99() float64    { return s.q(0.99) }
func (s sample) max() float64    { return s.q(1) }

// ms formats milliseconds with a precision that suits the size.
func ms(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.Abs(v) < 1:
		return fmt.Sprintf("%.3f ms", v)
	case math.Abs(v) < 100:
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
