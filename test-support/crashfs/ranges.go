package main

import "sort"

// span is the byte range [start, end) of a file.
type span struct{ start, end int64 }

// spans is a set of disjoint, non-adjacent byte ranges in ascending order: the parts of a file
// written since its last fsync. A sequential writer (WAL) keeps it at one or two entries.
type spans []span

// add merges [start, end) into the set.
func (s *spans) add(start, end int64) {
	if start >= end {
		return
	}
	old := *s
	// First range that ends at or after start (touching ranges merge).
	i := sort.Search(len(old), func(k int) bool { return old[k].end >= start })
	j := i
	for j < len(old) && old[j].start <= end {
		start = min(start, old[j].start)
		end = max(end, old[j].end)
		j++
	}
	if i == j {
		old = append(old, span{})
		copy(old[i+1:], old[i:])
		old[i] = span{start, end}
		*s = old
		return
	}
	old[i] = span{start, end}
	*s = append(old[:i+1], old[j:]...)
}

// clip drops everything at or beyond limit.
func (s *spans) clip(limit int64) {
	old := *s
	n := 0
	for _, r := range old {
		if r.start >= limit {
			break
		}
		r.end = min(r.end, limit)
		old[n] = r
		n++
	}
	*s = old[:n]
}

// bytes is the total length of the ranges.
func (s spans) bytes() int64 {
	var total int64
	for _, r := range s {
		total += r.end - r.start
	}
	return total
}
