package linker

import (
	"math/rand/v2"
	"strconv"
	"time"

	"contactpoint/domain/match"
)

// TrainOptions bound the work of Train.
type TrainOptions struct {
	// RandomPairs is how many random pairs of source records estimate u.
	RandomPairs int
	// MaxPairs bounds the candidate pairs given to EM.
	MaxPairs int
	// Iterations bounds EM.
	Iterations int
	// MinNameCount is the fewest children a name must have to be listed in
	// the frequency table.
	MinNameCount int
	// MinLinkedPairs is the fewest identifier-linked pairs m is learnt
	// from; with fewer, EM estimates it.
	MinLinkedPairs int
	// MinVariantChildren is the fewest children whose records must show a
	// pair of given names for it to be learnt as a variant.
	MinVariantChildren int
	// UpToSeq is the CHILDREN sequence the index was read to, for the record.
	UpToSeq uint64
	Now     time.Time
}

// DefaultTrainOptions suit an area of up to a few million records.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{RandomPairs: 500_000, MaxPairs: 4_000_000, Iterations: 200, MinNameCount: 10, MinLinkedPairs: 1000, MinVariantChildren: 3}
}

// Train estimates the next version of the rules from the area's own data,
// as the index holds it: u-probabilities from random pairs of source
// records, m-probabilities by EM over the candidate pairs blocking finds
// (each source record against the other sources of its own child and of
// every candidate child), and the share of children bearing each given and
// family name for term-frequency adjustment. prior is the version in force:
// its weights are where EM starts and what it is smoothed towards, its
// thresholds are kept, and the result is its version plus one. Train reads
// the index only; it changes nothing.
func Train(x *Index, prior match.Rules, opt TrainOptions) match.Rules {
	var srcs []src // every source held by a standing child
	given, family := map[string]int{}, map[string]int{}
	children := 0
	var scratch []match.Features
	for r := range x.children {
		if !x.standingWithSources(ref(r)) {
			continue
		}
		children++
		scratch = x.features(ref(r), scratch)
		seenG, seenF := map[string]bool{}, map[string]bool{}
		for i := range scratch {
			f := &scratch[i]
			if f.Given != "" && !seenG[f.Given] {
				seenG[f.Given] = true
				given[f.Given]++
			}
			if f.Family != "" && !seenF[f.Family] {
				seenF[f.Family] = true
				family[f.Family]++
			}
		}
		srcs = append(srcs, x.children[r].srcs...)
	}

	// A fixed seed: the same index trains the same rules.
	rng := rand.New(rand.NewPCG(1, 2))
	var a, b match.Features
	random := make([]match.ComparisonVector, 0, opt.RandomPairs)
	for i := 0; i < opt.RandomPairs && len(srcs) > 1; i++ {
		s, t := srcs[rng.IntN(len(srcs))], srcs[rng.IntN(len(srcs))]
		if x.srcs[s].holder == x.srcs[t].holder {
			continue // the same child: not a random pair of two
		}
		if a.Unpack(x.feats[s]) != nil || b.Unpack(x.feats[t]) != nil {
			continue
		}
		random = append(random, match.Compare(&a, &b))
	}

	// Candidate pairs, each once: a source against later sources of its own
	// child and against the sources of candidate children numbered higher.
	stride := 1
	if est := len(srcs) * 3; opt.MaxPairs > 0 && est > opt.MaxPairs {
		stride = (est + opt.MaxPairs - 1) / opt.MaxPairs
	}
	var pairs, linked []match.ComparisonVector
	// Given names that one child's identifier-linked records disagree on,
	// once a child.
	type variantOf struct {
		child ref
		a, b  string
	}
	variantSeen := map[variantOf]bool{}
	var names [][2]string
	var keys []uint64
	var other []match.Features
	method := ""
	for n, s := range srcs {
		if n%stride != 0 || len(pairs) >= opt.MaxPairs {
			continue
		}
		if a.Unpack(x.feats[s]) != nil {
			continue
		}
		own := x.srcs[s].holder
		keys = blockKeys(&a, keys[:0])
		for _, c := range x.candidates(keys) {
			if c < own {
				continue
			}
			other = x.features(c, other)
			for i, cs := range x.children[c].srcs {
				if c == own && cs <= s {
					continue
				}
				v := match.Compare(&a, &other[i])
				pairs = append(pairs, v)
				if c == own && (v[match.FieldNHS] == match.Exact || v[match.FieldUPN] == match.Exact) {
					linked = append(linked, v)
					if g := v[match.FieldGiven]; g == match.Disagree || g == match.Weak {
						k := variantOf{own, a.Given, other[i].Given}
						if k.b < k.a {
							k.a, k.b = k.b, k.a
						}
						if !variantSeen[k] {
							variantSeen[k] = true
							names = append(names, [2]string{k.a, k.b})
						}
					}
				}
			}
		}
	}

	// m from the pairs the area's own identifiers join, where there are
	// enough of them: two records of one child sharing an NHS number or a
	// UPN are matches whatever else they say, so how their other fields
	// compare is how agencies record one child differently. EM over the
	// candidate pairs is the fallback for an area with few identifiers; its
	// "match" class tends to take in whole households (siblings agree on
	// everything but the given name and date), so it is second best.
	w := match.EstimateU(random, prior.Weights)
	if len(linked) >= opt.MinLinkedPairs {
		w = match.EstimateMFromLinked(linked, w, match.FieldNHS, match.FieldUPN)
		method = "m from identifier-linked pairs"
	} else {
		w = match.EstimateM(pairs, w, opt.Iterations)
		method = "m by EM over candidate pairs"
	}
	w.TF = nil
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)
	note := "built-in defaults"
	if prior.Version > 0 {
		note = "rules version " + strconv.Itoa(prior.Version)
	}
	return match.Rules{
		Version:   prior.Version + 1,
		TrainedAt: &now,
		TrainedOn: &match.Training{Children: children, Sources: len(srcs), Pairs: len(pairs), LinkedPairs: len(linked),
			RandomPairs: len(random), UpToSeq: opt.UpToSeq, Iterations: opt.Iterations, Prior: note, Method: method},
		Weights:     w,
		Thresholds:  prior.Thresholds,
		Frequencies: match.EstimateFrequencies(given, family, children, opt.MinNameCount),
		Variants:    match.LearnVariants(names, opt.MinVariantChildren),
	}
}

// Train estimates the next version of the rules from the linker's own
// index, as Train does, holding the linker still meanwhile.
func (l *Linker) Train(opt TrainOptions) (match.Rules, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return match.Rules{}, ErrNotReady
	}
	return Train(l.idx, l.cfg.Rules, opt), nil
}
