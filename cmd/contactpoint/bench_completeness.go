package main

import (
	"fmt"
	"math/bits"
	"slices"

	"contactpoint/app/linker"
	"contactpoint/domain/match"
	"contactpoint/synth"
)

// completeness measures blocking: the share of true pairs (two records of
// one child) that share at least one blocking key the linker would use —
// one naming no more than linker.MaxBlock children — overall and by the
// number of deliberate errors the two records carry between them. A pair
// that shares no such key is never compared, whatever the scoring.
type completeness struct {
	pairs, met [4]int64 // by errors: 0, 1, 2, 3 or more
}

func (c completeness) report() {
	var p, m, p2, m2 int64
	for e := range c.pairs {
		p += c.pairs[e]
		m += c.met[e]
		if e <= 2 {
			p2 += c.pairs[e]
			m2 += c.met[e]
		}
	}
	ratio := func(m, p int64) float64 { return float64(m) / float64(max(p, 1)) }
	fmt.Printf("blocking pair completeness: %.5f of %d true pairs meet in a block; with at most two errors %.5f of %d (0 errors %.5f, 1 error %.5f, 2 errors %.5f, 3 or more %.5f)\n",
		ratio(m, p), p, ratio(m2, p2), p2, ratio(c.met[0], c.pairs[0]), ratio(c.met[1], c.pairs[1]), ratio(c.met[2], c.pairs[2]), ratio(c.met[3], c.pairs[3]))
}

// measureCompleteness works out every record's blocking keys as the linker
// files them, drops the keys that name more than linker.MaxBlock people
// (the linker stops using those), and checks every true pair.
func measureCompleteness(pop *synth.Population) completeness {
	type rec struct {
		person int
		errs   int
		keys   []uint64
	}
	var recs []rec
	for _, f := range pop.Feeds() {
		for i := 0; i < f.Len(); i++ {
			r := f.Record(i)
			if r.Child == nil {
				continue
			}
			feat := match.FeaturesOf(r.Child)
			keys := linker.BlockKeys(&feat, nil)
			slices.Sort(keys)
			recs = append(recs, rec{person: f.Truth(i).Person, errs: bits.OnesCount16(uint16(f.Errors(i))), keys: slices.Compact(keys)})
		}
	}
	byPerson := map[int][]int{}
	for i := range recs {
		byPerson[recs[i].person] = append(byPerson[recs[i].person], i)
	}
	// People per key: a person's records count once.
	people := map[uint64]int32{}
	for _, idx := range byPerson {
		var mine []uint64
		for _, i := range idx {
			mine = append(mine, recs[i].keys...)
		}
		slices.Sort(mine)
		for _, k := range slices.Compact(mine) {
			people[k]++
		}
	}
	var c completeness
	for _, idx := range byPerson {
		for a := 0; a < len(idx); a++ {
			for b := a + 1; b < len(idx); b++ {
				x, y := &recs[idx[a]], &recs[idx[b]]
				e := min(x.errs+y.errs, 3)
				c.pairs[e]++
				if shareUsableKey(x.keys, y.keys, people) {
					c.met[e]++
				}
			}
		}
	}
	return c
}

func shareUsableKey(a, b []uint64, people map[uint64]int32) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			if people[a[i]] <= linker.MaxBlock {
				return true
			}
			i++
			j++
		}
	}
	return false
}
