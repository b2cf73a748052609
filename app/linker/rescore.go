package linker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/google/uuid"

	"contactpoint/domain/child"
	"contactpoint/domain/match"
	"contactpoint/domain/record"
)

// Change is one difference a new version of the rules would make to the
// children as they stand.
type Change struct {
	// Kind is "merge" (Child and Other would be one child) or "split"
	// (Source would leave Child for a child of its own).
	Kind   string            `json:"kind"`
	Child  uuid.UUID         `json:"child"`
	Other  uuid.UUID         `json:"other,omitempty"`
	Source *record.SourceKey `json:"source,omitempty"`
	// Decision is the new rules' verdict, with the score and why.
	Decision match.Decision `json:"decision"`
}

// RescoreReport is what a shadow run found: the changes, in a fixed order,
// and how many pairs and sources were scored.
type RescoreReport struct {
	Version        int      `json:"version"`
	Children       int      `json:"children"`
	PairsScored    int      `json:"pairs_scored"`
	SourcesChecked int      `json:"sources_checked"`
	Changes        []Change `json:"changes"`
}

// Merges and Splits count the changes by kind.
func (r RescoreReport) Merges() int { return r.count("merge") }

// Splits counts the proposed splits.
func (r RescoreReport) Splits() int { return r.count("split") }

func (r RescoreReport) count(kind string) int {
	n := 0
	for _, c := range r.Changes {
		if c.Kind == kind {
			n++
		}
	}
	return n
}

// Rescore scores the children as they stand under other rules, changing
// nothing: every pair of standing children that blocking puts together and
// that the new rules would link is a merge; every source record that the
// new rules would not link to the older records of its child is a split. Pairs a steward said are different, and children a steward's
// merge made, are left as the steward decided.
func (l *Linker) Rescore(rules match.Rules) (RescoreReport, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return RescoreReport{}, ErrNotReady
	}
	return rescore(l.idx, rules), nil
}

func rescore(x *Index, rules match.Rules) RescoreReport {
	w := rules.Weights
	w.TF, w.Variants = rules.Frequencies, match.VariantSet(rules.Variants)
	t := rules.Thresholds.ForPopulation(x.Children())
	rep := RescoreReport{Version: rules.Version, Changes: []Change{}}
	var keys []uint64
	var own, other []match.Features
	for r := range x.children {
		a := ref(r)
		if !x.standingWithSources(a) {
			continue
		}
		rep.Children++
		own = x.features(a, own)
		// Splits: as the linker met them, oldest first, each source against
		// the ones before it that stay; one the new rules would not have
		// linked (a new child, or a review) would leave.
		if len(own) > 1 && !x.stewardMerged[a] {
			kept := []match.Features{own[0]}
			for i := 1; i < len(own); i++ {
				rep.SourcesChecked++
				d, _ := match.DecideBest(own[i], kept, w, t)
				if d.Outcome == match.Link {
					kept = append(kept, own[i])
					continue
				}
				if k, ok := x.sourceKeyOf(a, i); ok {
					rep.Changes = append(rep.Changes, Change{Kind: "split", Child: x.children[a].id, Source: &k, Decision: d})
				}
			}
		}
		// Merges: against the candidate children numbered higher, each
		// pair once.
		seen := map[ref]bool{}
		for i := range own {
			keys = blockKeys(&own[i], keys[:0])
			for _, b := range x.candidates(keys) {
				if b <= a || seen[b] {
					continue
				}
				seen[b] = true
			}
		}
		cands := make([]ref, 0, len(seen))
		for b := range seen {
			cands = append(cands, b)
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i] < cands[j] })
		for _, b := range cands {
			if x.isNotLinked(a, b) {
				continue
			}
			rep.PairsScored++
			other = x.features(b, other)
			var best match.Decision
			for i := range own {
				d, _ := match.DecideBest(own[i], other, w, t)
				if i == 0 || rank(d) > rank(best) || (rank(d) == rank(best) && d.Score > best.Score) {
					best = d
				}
			}
			if best.Outcome == match.Link {
				rep.Changes = append(rep.Changes, Change{Kind: "merge", Child: x.children[a].id, Other: x.children[b].id, Decision: best})
			}
		}
	}
	return rep
}

// ApplyRescore lands a shadow run's changes as ordinary merges and splits
// through Merge and Split, so that shields, the decision log and the audit
// follow as for any other; each names the rules version as its reason. A
// change the children have moved past since the run (a child merged
// meanwhile, a source already gone) is passed over. It returns how many
// changes landed.
func (l *Linker) ApplyRescore(ctx context.Context, rep RescoreReport) (int, error) {
	d := child.Decision{By: ByLinker, Reason: "rules version " + strconv.Itoa(rep.Version)}
	applied := 0
	for _, c := range rep.Changes {
		var err error
		switch c.Kind {
		case "merge":
			_, err = l.Merge(ctx, c.Child, c.Other, d)
		case "split":
			_, err = l.Split(ctx, c.Child, []record.SourceKey{*c.Source}, uuid.Nil, d)
		default:
			return applied, fmt.Errorf("apply rescore: unknown change %q", c.Kind)
		}
		switch {
		case err == nil:
			applied++
		case errors.Is(err, ErrMergedChild), errors.Is(err, ErrSameChild), errors.Is(err, ErrNotLinkedPair),
			errors.Is(err, ErrUnknownSource), errors.Is(err, ErrSplitEverything), errors.Is(err, ErrUnknownChild):
		default:
			return applied, fmt.Errorf("apply rescore: %w", err)
		}
	}
	return applied, nil
}

// ThresholdsInForce are the rules' thresholds raised for the area's size.
func (l *Linker) ThresholdsInForce() match.Thresholds {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.idx == nil {
		return l.cfg.Thresholds
	}
	return l.thresholds()
}

// Load makes the linker ready for commands from CHILDREN alone, without
// following FEEDS: for the command line's shadow runs and their apply step,
// run while the hub is stopped (the linker is the single writer of linkage).
func (l *Linker) Load(ctx context.Context) error {
	idx, _, err := rebuildIndex(ctx, l.js)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.idx, l.ready = idx, true
	return l.completeMerges(ctx)
}
