package match

import (
	"math"
	"sort"
)

// EstimateWeights fits M, U and Prior to the comparison vectors of candidate
// pairs by the classic two-class expectation–maximisation of Fellegi–Sunter
// (Winkler 1988): each pair is a match with an unknown probability, fields
// are assumed independent given the class, and Missing levels are left out
// of the likelihood (missingness is taken to say nothing about the class).
//
// It starts from DefaultWeights, which fixes which class is "match" and
// keeps the fit away from the degenerate solutions EM can fall into; pairs
// are grouped by distinct vector first, so each iteration costs the number
// of distinct vectors, not of pairs. Pseudo-counts (one pair's worth spread
// across a field's levels in the proportions of the defaults) keep every
// probability positive, so no weight is ever infinite. It stops after iters
// iterations or when the estimates stop moving. With no pairs it returns
// the defaults.
func EstimateWeights(pairs []ComparisonVector, iters int) Weights {
	if len(pairs) == 0 {
		return DefaultWeights()
	}
	w := em(pairs, DefaultWeights(), iters, true)
	// Should EM have converged with the classes swapped, the "match" class
	// would disagree more than it agrees; swap them back.
	agree := 0.0
	for f := Field(0); f < NumFields; f++ {
		agree += w.M[f][Exact] - w.U[f][Exact]
	}
	if agree < 0 {
		w.M, w.U = w.U, w.M
		w.Prior = 1 - w.Prior
	}
	return w
}

// em runs expectation–maximisation from w over the pairs, smoothed towards
// w's own probabilities, re-estimating M and Prior, and U too when fitU.
func em(pairs []ComparisonVector, w Weights, iters int, fitU bool) Weights {
	counts := make(map[ComparisonVector]float64)
	for _, v := range pairs {
		counts[v]++
	}
	// A fixed order makes the floating-point sums, and so the result, the
	// same on every run.
	type pattern struct {
		v ComparisonVector
		n float64
	}
	pats := make([]pattern, 0, len(counts))
	for v, n := range counts {
		pats = append(pats, pattern{v, n})
	}
	sort.Slice(pats, func(i, j int) bool { return lessVector(pats[i].v, pats[j].v) })

	prior := w
	const pseudo = 1.0
	g := make([]float64, len(pats))
	for it := 0; it < iters; it++ {
		// E step: posterior probability that each pattern is a match.
		lp, lq := math.Log(w.Prior), math.Log(1-w.Prior)
		for i, p := range pats {
			a, b := lp, lq
			for f := Field(0); f < NumFields; f++ {
				if l := p.v[f]; l != Missing {
					a += math.Log(w.M[f][l])
					b += math.Log(w.U[f][l])
				}
			}
			g[i] = 1 / (1 + math.Exp(b-a))
		}
		// M step: re-estimate from expected counts.
		next := w
		next.M = [NumFields][NumLevels]float64{}
		if fitU {
			next.U = [NumFields][NumLevels]float64{}
		}
		var sumG, total float64
		var mDen, uDen [NumFields]float64
		for i, p := range pats {
			gm, gu := g[i]*p.n, (1-g[i])*p.n
			sumG += gm
			total += p.n
			for f := Field(0); f < NumFields; f++ {
				if l := p.v[f]; l != Missing {
					next.M[f][l] += gm
					mDen[f] += gm
					if fitU {
						next.U[f][l] += gu
						uDen[f] += gu
					}
				}
			}
		}
		for f := Field(0); f < NumFields; f++ {
			for _, l := range fieldLevels[f] {
				next.M[f][l] = (next.M[f][l] + pseudo*prior.M[f][l]) / (mDen[f] + pseudo)
				if fitU {
					next.U[f][l] = (next.U[f][l] + pseudo*prior.U[f][l]) / (uDen[f] + pseudo)
				}
			}
		}
		next.Prior = clamp(sumG/total, 1e-6, 1-1e-6)
		done := maxChange(&w, &next) < 1e-9
		w = next
		if done {
			break
		}
	}
	return w
}

// LabelledPair is a comparison vector whose truth a steward has decided.
type LabelledPair struct {
	Vector ComparisonVector `json:"vector"`
	Match  bool             `json:"match"`
}

// LearnWeights estimates M and U by counting over labelled pairs, smoothed
// towards DefaultWeights with the strength of ten pairs per field, so a
// level seen rarely (or never) keeps a sensible weight instead of an
// infinite one. Prior is the share of matches.
func LearnWeights(labelled []LabelledPair) Weights {
	const strength = 10.0
	d := DefaultWeights()
	var w Weights
	var mDen, uDen [NumFields]float64
	matches := 0
	for _, p := range labelled {
		if p.Match {
			matches++
		}
		for f := Field(0); f < NumFields; f++ {
			l := p.Vector[f]
			if l == Missing || l >= NumLevels {
				continue
			}
			if p.Match {
				w.M[f][l]++
				mDen[f]++
			} else {
				w.U[f][l]++
				uDen[f]++
			}
		}
	}
	for f := Field(0); f < NumFields; f++ {
		for _, l := range fieldLevels[f] {
			w.M[f][l] = (w.M[f][l] + strength*d.M[f][l]) / (mDen[f] + strength)
			w.U[f][l] = (w.U[f][l] + strength*d.U[f][l]) / (uDen[f] + strength)
		}
		// A level the comparator never produces is not learnt.
		for l := Level(0); l < NumLevels; l++ {
			if d.M[f][l] == 0 {
				w.M[f][l], w.U[f][l] = 0, 0
			}
		}
	}
	w.Prior = d.Prior
	if len(labelled) > 0 {
		w.Prior = clamp(float64(matches)/float64(len(labelled)), 1e-6, 1-1e-6)
	}
	return w
}

func lessVector(a, b ComparisonVector) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

func maxChange(a, b *Weights) float64 {
	d := math.Abs(a.Prior - b.Prior)
	for f := range a.M {
		for l := range a.M[f] {
			d = math.Max(d, math.Abs(a.M[f][l]-b.M[f][l]))
			d = math.Max(d, math.Abs(a.U[f][l]-b.U[f][l]))
		}
	}
	return d
}

// EstimateU estimates the u-probabilities from pairs of records drawn at
// random, almost all of which are two different children: the share of
// such pairs at each level is u. Blocked candidate pairs cannot give u,
// since blocking chose them for agreeing on names and dates. A level seen
// fewer than minSupport times is taken at its bound (see supported). M and
// Prior are prior's.
func EstimateU(random []ComparisonVector, prior Weights) Weights {
	w := prior
	var cnt [NumFields][NumLevels]float64
	var den [NumFields]float64
	for _, v := range random {
		for f := Field(0); f < NumFields; f++ {
			if l := v[f]; l != Missing && l < NumLevels {
				cnt[f][l]++
				den[f]++
			}
		}
	}
	for f := Field(0); f < NumFields; f++ {
		w.U[f] = supported(cnt[f], den[f], prior.U[f], fieldLevels[f])
	}
	return w
}

// minSupport is the fewest pairs at a level for a sample to measure its
// probability. Strangers sharing a phone are so rare that half a million
// random pairs may hold none: "none in 300,000" bounds u, it does not
// measure it, and a smoothed near-zero would make a shared phone worth
// thirty bits. A rarer level is taken at its bound, (count + 1) / (pairs
// + 2) — the rule of succession, the least the sample can tell apart from
// nothing — or at the prior's probability when that is lower still.
const minSupport = 10

// supported estimates a field's level probabilities from counts: the
// levels too rare to measure at their bound (above), the others sharing
// what is left in proportion to their counts.
func supported(cnt [NumLevels]float64, den float64, prior [NumLevels]float64, levels []Level) [NumLevels]float64 {
	out := prior
	if den <= 0 {
		return out
	}
	rare, counted := 0.0, 0.0
	for _, l := range levels {
		if cnt[l] < minSupport {
			out[l] = min(prior[l], (cnt[l]+1)/(den+2))
			rare += out[l]
		} else {
			counted += cnt[l]
		}
	}
	if counted == 0 {
		return prior
	}
	for _, l := range levels {
		if cnt[l] >= minSupport {
			out[l] = (1 - rare) * cnt[l] / counted
		}
	}
	return out
}

// EstimateM fits the m-probabilities and the match share of candidate pairs
// by expectation–maximisation with u held where EstimateU put it (the
// approach of the Fellegi–Sunter toolkits: u from random pairs, m by EM
// over blocked pairs, where matches are common enough to be learnt). It
// starts from, and is smoothed towards, w's m; it stops after iters
// iterations or when the estimates stop moving.
func EstimateM(pairs []ComparisonVector, w Weights, iters int) Weights {
	if len(pairs) == 0 {
		return w
	}
	return em(pairs, w, iters, false)
}

// EstimateMFromLinked estimates the m-probabilities from pairs known to be
// one child — in practice, two records of a child that share a valid NHS
// number or UPN; a level seen fewer than minSupport times is taken at its
// bound (see supported). The fields in keep are left as w has them: the identifiers
// that chose the pairs always agree in them, so the pairs say nothing of
// how often those are mistyped. U and Prior are w's.
func EstimateMFromLinked(linked []ComparisonVector, w Weights, keep ...Field) Weights {
	out := w
	var cnt [NumFields][NumLevels]float64
	var den [NumFields]float64
	for _, v := range linked {
		for f := Field(0); f < NumFields; f++ {
			if l := v[f]; l != Missing && l < NumLevels {
				cnt[f][l]++
				den[f]++
			}
		}
	}
next:
	for f := Field(0); f < NumFields; f++ {
		for _, k := range keep {
			if k == f {
				continue next
			}
		}
		out.M[f] = supported(cnt[f], den[f], w.M[f], fieldLevels[f])
	}
	return out
}
