package linker

import (
	"fmt"
	"testing"

	"contactpoint/domain/child"
)

// BenchmarkDecide links a whole synthetic area in memory, batch by batch as
// the linker does, without the event log: the cost per record of the
// linker's own work — decoding aside — at growing sizes. Run with
//
//	go test ./app/linker -run '^$' -bench Decide -benchtime 1x
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{20_000, 80_000, 320_000} {
		b.Run(fmt.Sprintf("children=%d", n), func(b *testing.B) {
			recs := feedOf(b, n, 1)
			hashes := make([]string, len(recs))
			for i := range recs {
				hashes[i] = child.ContentHash(&recs[i])
			}
			b.ResetTimer()
			var scored int64
			for range b.N {
				l := newTestLinker()
				for from := 0; from < len(recs); from += 1000 {
					var p plan
					for i := from; i < min(from+1000, len(recs)); i++ {
						seq := uint64(i + 1)
						l.decide(&p, &recs[i], hashes[i], seq, fixed)
					}
				}
				scored = l.Stats().Scored
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
			b.ReportMetric(float64(scored)/float64(len(recs)), "candidates/record")
		})
	}
}
