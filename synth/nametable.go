package synth

import (
	"math/rand/v2"
	"time"
)

// nameTable is a popularity-weighted list of given names for one sex, with
// the names that rose recently weighted up for recent births.
type nameTable struct {
	list      []string
	cum       []float64
	index     map[string]uint16
	recent    []uint16
	recentCum []float64
	middle    []uint16
	pairs     [][2]uint16
}

var (
	boyNames, girlNames          *nameTable
	motherCum, fatherCum, surCum []float64
)

func init() {
	boyNames = newNameTable(boys, boysRecent, boysMiddle, boyPairs)
	girlNames = newNameTable(girls, girlsRecent, girlsMiddle, girlPairs)
	motherCum = rankWeights(len(mothers), 12)
	fatherCum = rankWeights(len(fathers), 12)
	surCum = rankWeights(len(surnames), 20)
}

func newNameTable(list, recent, middle []string, pairs [][2]string) *nameTable {
	t := &nameTable{list: append([]string(nil), list...), index: map[string]uint16{}}
	for i, n := range t.list {
		t.index[n] = uint16(i)
	}
	// Middle names and twin pairs must be drawable, so add any the list lacks
	// at its tail, where the rank weighting makes them rare as first names.
	add := func(n string) uint16 {
		if i, ok := t.index[n]; ok {
			return i
		}
		t.index[n] = uint16(len(t.list))
		t.list = append(t.list, n)
		return t.index[n]
	}
	for _, n := range recent {
		t.recent = append(t.recent, add(n))
	}
	for _, n := range middle {
		t.middle = append(t.middle, add(n))
	}
	for _, pr := range pairs {
		t.pairs = append(t.pairs, [2]uint16{add(pr[0]), add(pr[1])})
	}
	t.cum = rankWeights(len(t.list), 12)
	t.recentCum = rankWeights(len(t.recent), 4)
	return t
}

// draw picks a given name for a child born in year: a third of the time
// from the names in fashion in that decade, otherwise from the whole list.
func (t *nameTable) draw(r *rand.Rand, year int) uint16 {
	fashionable := r.Float64() < 1.0/3
	if year >= 2016 && fashionable {
		return t.recent[pick(r, t.recentCum)]
	}
	if fashionable { // names of the late 2000s and early 2010s head the list
		return uint16(pick(r, t.cum[:60]))
	}
	return uint16(pick(r, t.cum))
}

func (t *nameTable) drawMiddle(r *rand.Rand, given uint16) uint16 {
	for {
		var m uint16
		if r.IntN(2) == 0 {
			m = t.middle[r.IntN(len(t.middle))]
		} else {
			m = uint16(pick(r, t.cum))
		}
		if m != given {
			return m
		}
	}
}

func names(male bool) *nameTable {
	if male {
		return boyNames
	}
	return girlNames
}

func drawSurname(r *rand.Rand) surname {
	s := surname{uint16(pick(r, surCum)), noName}
	// About one family in forty gives its children both parents' names.
	if r.IntN(40) == 0 {
		for s[1] == noName || s[1] == s[0] {
			s[1] = uint16(pick(r, surCum))
		}
	}
	return s
}

func yearOf(d int32) int { return fromDays(d).Year() }

func monthOf(d int32) time.Month { return fromDays(d).Month() }
