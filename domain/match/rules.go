package match

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"
)

// Rules are the weights and thresholds the linker decides by, with where
// they came from: the built-in defaults (version 0), or a version trained
// on an area's own data by EstimateWeights and EstimateFrequencies. A
// version is written once and never changed; a shadow run scores the
// history under a new one before it is put in force.
type Rules struct {
	Version    int        `json:"version"`
	TrainedAt  *time.Time `json:"trained_at,omitempty"`
	TrainedOn  *Training  `json:"trained_on,omitempty"`
	Weights    Weights    `json:"weights"`
	Thresholds Thresholds `json:"thresholds"`
	// Frequencies, when present, adjust an exact name agreement for how
	// common the name is in the area (see Frequencies).
	Frequencies *Frequencies `json:"frequencies,omitempty"`
	// Variants are pairs of given names the area's own records use for one
	// child (see LearnVariants): compared, they agree as nicknames do.
	Variants [][2]string `json:"variants,omitempty"`
}

// Training says what a version of the rules was estimated from.
type Training struct {
	Children    int    `json:"children"`     // standing children in the index
	Sources     int    `json:"sources"`      // their source records
	Pairs       int    `json:"pairs"`        // candidate pairs blocking found
	LinkedPairs int    `json:"linked_pairs"` // of which two records of one child sharing an identifier
	RandomPairs int    `json:"random_pairs"` // random pairs u was estimated from
	Method      string `json:"method"`       // how m was estimated
	UpToSeq     uint64 `json:"up_to_seq"`    // the CHILDREN sequence the index was read to
	Iterations  int    `json:"iterations"`   // EM iterations allowed
	Prior       string `json:"prior"`        // the weights EM started from and was smoothed towards
	Note        string `json:"note,omitempty"`
}

// DefaultRules are version 0: DefaultWeights and DefaultThresholds, no
// term-frequency adjustment.
func DefaultRules() Rules {
	return Rules{Weights: DefaultWeights(), Thresholds: DefaultThresholds()}
}

// ParseRules reads a rules file and checks it is usable: a version of 1 or
// more, every probability of every level the comparators produce within
// (0, 1), and thresholds with Lower below Upper.
func ParseRules(b []byte) (Rules, error) {
	var r Rules
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("linkage rules: %w", err)
	}
	if r.Version < 1 {
		return r, fmt.Errorf("linkage rules: version %d; a trained version is 1 or more", r.Version)
	}
	for f := Field(0); f < NumFields; f++ {
		for _, l := range fieldLevels[f] {
			m, u := r.Weights.M[f][l], r.Weights.U[f][l]
			if !(m > 0 && m < 1 && u > 0 && u < 1) {
				return r, fmt.Errorf("linkage rules: %s at level %s has m %g, u %g; both must lie between 0 and 1", f, l, m, u)
			}
		}
	}
	t := r.Thresholds
	if math.IsNaN(t.Upper) || math.IsNaN(t.Lower) || t.Lower >= t.Upper {
		return r, fmt.Errorf("linkage rules: thresholds %g and %g: lower must be below upper", t.Lower, t.Upper)
	}
	if fr := r.Frequencies; fr != nil && !(fr.Floor > 0 && fr.Floor < 1) {
		return r, fmt.Errorf("linkage rules: term-frequency floor %g must lie between 0 and 1", fr.Floor)
	}
	for _, v := range r.Variants {
		if v[0] == "" || v[1] == "" || v[0] == v[1] {
			return r, fmt.Errorf("linkage rules: name variant %q is not two different names", v)
		}
	}
	r.Weights.TF = r.Frequencies
	r.Weights.Variants = VariantSet(r.Variants)
	return r, nil
}

// VariantSet indexes variant pairs for Weights.Variants.
func VariantSet(pairs [][2]string) map[[2]string]bool {
	if len(pairs) == 0 {
		return nil
	}
	m := make(map[[2]string]bool, len(pairs))
	for _, p := range pairs {
		m[orderedPair(p[0], p[1])] = true
	}
	return m
}

func orderedPair(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// LearnVariants finds the given names the area records for one child that
// the nickname table does not know: from pairs of records known to be one
// child (sharing an NHS number or UPN), the pairs of first given names
// compared as different or only alike in sound, kept when at least
// minChildren children show the same pair — a keying slip is one child's,
// a short form the area uses ("Amy" for "Amelia") is many children's. The
// result is sorted.
func LearnVariants(pairs [][2]string, minChildren int) [][2]string {
	count := map[[2]string]int{}
	for _, p := range pairs {
		if p[0] != "" && p[1] != "" && p[0] != p[1] {
			count[orderedPair(p[0], p[1])]++
		}
	}
	var out [][2]string
	for p, n := range count {
		if n >= max(minChildren, 1) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] || (out[i][0] == out[j][0] && out[i][1] < out[j][1]) })
	return out
}

// Frequencies are the shares of the area's children bearing each given and
// family name (normalised as Features holds them), for term-frequency
// adjustment: two records agreeing on "Smith" are likelier to be strangers
// than two agreeing on "Featherstonehaugh", so the exact-agreement weight
// log2(m/u) is taken with u the name's own share rather than the average.
//
// Only names borne by at least MinCount children are listed: a rarer name
// is given Floor, the share of a name at MinCount, so the table never
// singles out a child by a name few others have.
type Frequencies struct {
	Given    map[string]float64 `json:"given"`
	Family   map[string]float64 `json:"family"`
	Floor    float64            `json:"floor"`
	MinCount int                `json:"min_count"`
}

// MaxTermAdjust bounds the term-frequency adjustment in bits either way: a
// name's share is itself an estimate, and no single field's rarity should
// carry a pair across a threshold on its own.
const MaxTermAdjust = 4.0

// EstimateFrequencies turns counts of children by given and family name
// into Frequencies over children names (total: children counted).
func EstimateFrequencies(given, family map[string]int, total, minCount int) *Frequencies {
	minCount = max(minCount, 1)
	fr := &Frequencies{Given: map[string]float64{}, Family: map[string]float64{}, MinCount: minCount}
	if total <= 0 {
		fr.Floor = 1e-4
		return fr
	}
	fr.Floor = float64(minCount) / float64(total)
	for name, n := range given {
		if n >= minCount {
			fr.Given[name] = float64(n) / float64(total)
		}
	}
	for name, n := range family {
		if n >= minCount {
			fr.Family[name] = float64(n) / float64(total)
		}
	}
	return fr
}

// twinNameRatio is how much commoner one of two names may be than the
// other for both to count as names in their own right (bothGiven).
const twinNameRatio = 4

// bothGiven reports two given names that are each borne by many of the
// area's children, neither far rarer than the other: "Millie" and
// "Mollie", "Mason" and "Jason". A keying slip seldom makes another of the
// area's common names, so two such names a letter apart in one household
// are as likely two twins' as one child's. Nil frequencies know no names.
func (fr *Frequencies) bothGiven(a, b string) bool {
	if fr == nil {
		return false
	}
	pa, ok1 := fr.Given[a]
	pb, ok2 := fr.Given[b]
	return ok1 && ok2 && max(pa, pb) <= twinNameRatio*min(pa, pb)
}

func (fr *Frequencies) share(table map[string]float64, name string) float64 {
	if p, ok := table[name]; ok {
		return p
	}
	return fr.Floor
}

// termAdjust is the bits to add to an exact agreement on a name of share p
// when the level's u is the area's average chance of agreement.
func termAdjust(u, p float64) float64 {
	if u <= 0 || p <= 0 {
		return 0
	}
	return max(-MaxTermAdjust, min(MaxTermAdjust, math.Log2(u/p)))
}

// termFrequency returns the adjustments for given and family name: only an
// exact agreement is adjusted, by the shared name's own share.
func (w *Weights) termFrequency(a, b *Features, v ComparisonVector) (given, family float64) {
	if w.TF == nil {
		return 0, 0
	}
	if v[FieldGiven] == Exact {
		given = termAdjust(w.U[FieldGiven][Exact], w.TF.share(w.TF.Given, a.Given))
	}
	if v[FieldFamily] == Exact {
		family = termAdjust(w.U[FieldFamily][Exact], w.TF.share(w.TF.Family, a.Family))
	}
	return given, family
}
