package match

import (
	"math"
	"math/rand/v2"
	"testing"
)

// simTruth are the m- and u-probabilities the simulation draws from; they
// differ from DefaultWeights so that recovering them is not a matter of
// staying where EM started.
func simTruth() Weights {
	var w Weights
	set := func(f Field, l Level, m, u float64) { w.M[f][l], w.U[f][l] = m, u }
	set(FieldGiven, Exact, 0.75, 0.02)
	set(FieldGiven, Close, 0.12, 0.01)
	set(FieldGiven, Partial, 0.05, 0.01)
	set(FieldGiven, Weak, 0.03, 0.02)
	set(FieldGiven, Disagree, 0.05, 0.94)
	set(FieldFamily, Exact, 0.80, 0.01)
	set(FieldFamily, Close, 0.08, 0.005)
	set(FieldFamily, Partial, 0.05, 0.01)
	set(FieldFamily, Weak, 0.03, 0.02)
	set(FieldFamily, Disagree, 0.04, 0.955)
	set(FieldBirthDate, Exact, 0.90, 0.01)
	set(FieldBirthDate, Close, 0.03, 0.002)
	set(FieldBirthDate, Partial, 0.04, 0.03)
	set(FieldBirthDate, Disagree, 0.03, 0.958)
	set(FieldGender, Exact, 0.95, 0.5)
	set(FieldGender, Disagree, 0.05, 0.5)
	set(FieldPostcode, Exact, 0.6, 0.01)
	set(FieldPostcode, Close, 0.1, 0.04)
	set(FieldPostcode, Partial, 0.1, 0.2)
	set(FieldPostcode, Disagree, 0.2, 0.75)
	w.Prior = 0.08
	return w
}

func simulate(rng *rand.Rand, truth Weights, n int) ([]ComparisonVector, []bool) {
	draw := func(p []float64, levels []Level) Level {
		x := rng.Float64()
		for i, l := range levels {
			x -= p[i]
			if x < 0 {
				return l
			}
		}
		return levels[len(levels)-1]
	}
	vs := make([]ComparisonVector, n)
	matches := make([]bool, n)
	for i := range vs {
		match := rng.Float64() < truth.Prior
		matches[i] = match
		for f := Field(0); f <= FieldPostcode; f++ {
			if rng.Float64() < 0.1 { // one value in ten is missing
				continue
			}
			levels := fieldLevels[f]
			p := make([]float64, len(levels))
			for j, l := range levels {
				if match {
					p[j] = truth.M[f][l]
				} else {
					p[j] = truth.U[f][l]
				}
			}
			vs[i][f] = draw(p, levels)
		}
	}
	return vs, matches
}

func TestEstimateWeightsRecoversSimulatedWeights(t *testing.T) {
	truth := simTruth()
	vs, _ := simulate(rand.New(rand.NewPCG(7, 11)), truth, 200_000)
	got := EstimateWeights(vs, 500)

	if math.Abs(got.Prior-truth.Prior) > 0.01 {
		t.Errorf("prior %.4f, want about %.4f", got.Prior, truth.Prior)
	}
	for f := Field(0); f <= FieldPostcode; f++ {
		for _, l := range fieldLevels[f] {
			want, est := truth.Weight(f, l), got.Weight(f, l)
			if (want > 0) != (est > 0) {
				t.Errorf("%s %s: weight %.2f has the wrong sign (truth %.2f)", f, l, est, want)
			}
			if math.Abs(want-est) > 0.6 {
				t.Errorf("%s %s: weight %.2f, truth %.2f", f, l, est, want)
			}
			if math.Abs(got.M[f][l]-truth.M[f][l]) > 0.03 {
				t.Errorf("%s %s: m %.3f, truth %.3f", f, l, got.M[f][l], truth.M[f][l])
			}
		}
		// The order of levels must survive estimation.
		levels := fieldLevels[f]
		for i := 1; i < len(levels); i++ {
			if truth.Weight(f, levels[i-1]) > truth.Weight(f, levels[i]) && got.Weight(f, levels[i-1]) <= got.Weight(f, levels[i]) {
				t.Errorf("%s: %s no longer outweighs %s", f, levels[i-1], levels[i])
			}
		}
	}
	// Fields never observed keep finite weights and contribute nothing odd.
	for _, l := range fieldLevels[FieldNHS] {
		if w := got.Weight(FieldNHS, l); math.IsInf(w, 0) || math.IsNaN(w) {
			t.Errorf("NHS %s weight %v", l, w)
		}
	}
}

func TestEstimateWeightsDeterministic(t *testing.T) {
	vs, _ := simulate(rand.New(rand.NewPCG(3, 4)), simTruth(), 20_000)
	same := func(a, b Weights) bool { return a.M == b.M && a.U == b.U && a.Prior == b.Prior }
	if !same(EstimateWeights(vs, 100), EstimateWeights(vs, 100)) {
		t.Fatal("EstimateWeights differs between runs on the same input")
	}
	if !same(EstimateWeights(nil, 10), DefaultWeights()) {
		t.Fatal("no pairs should give the defaults")
	}
}

func TestLearnWeights(t *testing.T) {
	truth := simTruth()
	vs, matches := simulate(rand.New(rand.NewPCG(5, 6)), truth, 100_000)
	labelled := make([]LabelledPair, len(vs))
	for i := range vs {
		labelled[i] = LabelledPair{vs[i], matches[i]}
	}
	got := LearnWeights(labelled)
	if math.Abs(got.Prior-truth.Prior) > 0.005 {
		t.Errorf("prior %.4f, want %.4f", got.Prior, truth.Prior)
	}
	for f := Field(0); f <= FieldPostcode; f++ {
		for _, l := range fieldLevels[f] {
			if want, est := truth.Weight(f, l), got.Weight(f, l); math.Abs(want-est) > 0.5 {
				t.Errorf("%s %s: weight %.2f, truth %.2f", f, l, est, want)
			}
		}
	}
	// With a handful of labels the defaults still dominate.
	few := LearnWeights(labelled[:3])
	if few.Weight(FieldBirthDate, Exact) < 5 {
		t.Errorf("three labels moved the date-of-birth weight to %.2f", few.Weight(FieldBirthDate, Exact))
	}
}

func TestDefaultWeightsAreDistributions(t *testing.T) {
	w := DefaultWeights()
	for f := Field(0); f < NumFields; f++ {
		var m, u float64
		for _, l := range fieldLevels[f] {
			m += w.M[f][l]
			u += w.U[f][l]
			if w.M[f][l] <= 0 || w.U[f][l] <= 0 {
				t.Errorf("%s %s: m %v u %v", f, l, w.M[f][l], w.U[f][l])
			}
		}
		if math.Abs(m-1) > 1e-9 || math.Abs(u-1) > 1e-9 {
			t.Errorf("%s: m sums to %v, u to %v", f, m, u)
		}
		// Agreement must always be worth more than disagreement.
		if w.Weight(f, Exact) <= 0 || w.Weight(f, Disagree) >= 0 {
			t.Errorf("%s: exact %.1f disagree %.1f", f, w.Weight(f, Exact), w.Weight(f, Disagree))
		}
	}
}

// TestTrainingRecoversWeightsWithSkewedNames simulates an area whose names
// follow a steep Zipf law, as real names do, and trains as the linkage
// train command does: u from random pairs, m by EM over blocked pairs,
// name shares from the area's own counts. It checks that the m- and
// u-probabilities are recovered and that the term-frequency adjustment
// makes agreeing on the commonest name worth about log2(m/share) bits, far
// less than agreeing on a rare one.
func TestTrainingRecoversWeightsWithSkewedNames(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	truth := simTruth()
	const names = 400
	// Zipf shares: the commonest name is borne by about 16 % of children.
	zipf := make([]float64, names)
	sum := 0.0
	for i := range zipf {
		zipf[i] = 1 / math.Pow(float64(i+1), 1.1)
		sum += zipf[i]
	}
	cum := make([]float64, names)
	acc := 0.0
	for i := range zipf {
		zipf[i] /= sum
		acc += zipf[i]
		cum[i] = acc
	}
	drawName := func() int {
		x := rng.Float64()
		for i, c := range cum {
			if x < c {
				return i
			}
		}
		return names - 1
	}
	// The given-name u of random pairs is the chance two children share a
	// name: the sum of squared shares, not any one name's.
	uExact := 0.0
	for _, p := range zipf {
		uExact += p * p
	}
	truth.U[FieldGiven][Exact] = uExact
	rest := 1 - uExact
	truth.U[FieldGiven][Close], truth.U[FieldGiven][Partial], truth.U[FieldGiven][Weak] = 0.01*rest, 0.01*rest, 0.02*rest
	truth.U[FieldGiven][Disagree] = 0.96 * rest

	// Random pairs: two independent children.
	random, _ := simulate(rng, Weights{M: truth.U, U: truth.U, Prior: 0}, 200_000)
	for i := range random {
		if random[i][FieldGiven] != Missing {
			a, b := drawName(), drawName()
			if a == b {
				random[i][FieldGiven] = Exact
			} else if random[i][FieldGiven] == Exact {
				random[i][FieldGiven] = Disagree
			}
		}
	}
	blocked, _ := simulate(rng, truth, 200_000)

	w := EstimateU(random, DefaultWeights())
	w = EstimateM(blocked, w, 200)
	for f := Field(0); f <= FieldPostcode; f++ {
		for _, l := range fieldLevels[f] {
			if d := math.Abs(w.U[f][l] - truth.U[f][l]); d > 0.01 {
				t.Errorf("u %s/%s = %.4f, want %.4f", f, l, w.U[f][l], truth.U[f][l])
			}
			if d := math.Abs(w.M[f][l] - truth.M[f][l]); d > 0.02 {
				t.Errorf("m %s/%s = %.4f, want %.4f", f, l, w.M[f][l], truth.M[f][l])
			}
		}
	}
	if math.Abs(w.Prior-truth.Prior) > 0.01 {
		t.Errorf("prior %.4f, want %.4f", w.Prior, truth.Prior)
	}

	// Name shares from the area's own counts.
	counts := map[string]int{}
	const children = 100_000
	for range children {
		counts[nameOf(drawName())]++
	}
	w.TF = EstimateFrequencies(counts, nil, children, 50)
	common := Features{Given: nameOf(0)}
	rare := Features{Given: nameOf(names - 1)}
	var v ComparisonVector
	v[FieldGiven] = Exact
	gc, _ := w.termFrequency(&common, &common, v)
	gr, _ := w.termFrequency(&rare, &rare, v)
	exact := w.Weight(FieldGiven, Exact)
	if want := math.Log2(truth.M[FieldGiven][Exact] / zipf[0]); math.Abs(exact+gc-want) > 0.2 {
		t.Errorf("commonest name: %.2f bits, want %.2f", exact+gc, want)
	}
	if gr <= 0 || gc >= 0 || gr-gc < 3 {
		t.Errorf("adjustments: common %.2f, rare %.2f: a rare name must be worth clearly more", gc, gr)
	}
	if len(w.TF.Given) == names {
		t.Error("names borne by fewer than the minimum count must not be listed")
	}
}

func nameOf(i int) string {
	return "n" + string(rune('a'+i/26%26)) + string(rune('a'+i%26)) + string(rune('a'+i/676))
}

// TestEstimateMFromLinked: pairs known to be one child give m directly,
// and the fields that chose them keep the prior's m.
func TestEstimateMFromLinked(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	truth := simTruth()
	truth.Prior = 1 // every pair is a match
	linked, _ := simulate(rng, truth, 50_000)
	prior := DefaultWeights()
	w := EstimateMFromLinked(linked, prior, FieldNHS, FieldGender)
	for f := Field(0); f <= FieldPostcode; f++ {
		for _, l := range fieldLevels[f] {
			want := truth.M[f][l]
			if f == FieldGender {
				want = prior.M[f][l]
			}
			if d := math.Abs(w.M[f][l] - want); d > 0.01 {
				t.Errorf("m %s/%s = %.4f, want %.4f", f, l, w.M[f][l], want)
			}
		}
	}
	if w.U != prior.U {
		t.Error("u changed")
	}
}
