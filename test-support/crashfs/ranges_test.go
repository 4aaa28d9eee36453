package main

import (
	"math/rand"
	"testing"
)

// The span set against a bitmap: after random adds and clips both name the same bytes.
func TestSpansMatchABitmap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		var s spans
		bits := make([]bool, 256)
		for op := 0; op < 40; op++ {
			a, b := int64(rng.Intn(256)), int64(rng.Intn(256))
			if a > b {
				a, b = b, a
			}
			if rng.Intn(8) == 0 {
				s.clip(a)
				for i := a; i < 256; i++ {
					bits[i] = false
				}
				continue
			}
			s.add(a, b)
			for i := a; i < b; i++ {
				bits[i] = true
			}
		}
		var want spans
		for i := 0; i < 256; i++ {
			if bits[i] {
				want.add(int64(i), int64(i+1))
			}
		}
		if len(s) != len(want) {
			t.Fatalf("round %d: got %v, want %v", round, s, want)
		}
		for i := range s {
			if s[i] != want[i] {
				t.Fatalf("round %d: got %v, want %v", round, s, want)
			}
			if i > 0 && s[i-1].end >= s[i].start {
				t.Fatalf("round %d: ranges touch or overlap: %v", round, s)
			}
		}
	}
}
