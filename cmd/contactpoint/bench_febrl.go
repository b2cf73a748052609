package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/app/hub"
	"contactpoint/app/linker"
	"contactpoint/domain/match"
	"contactpoint/domain/record"
)

func benchFEBRLCmd(v *viper.Viper) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "febrl",
		Short: "Convert a FEBRL benchmark CSV to child records, link them with the real linker and score the links against the benchmark's truth",
		Long: `Reads one or more FEBRL-format CSV files (rec_id, given_name, surname,
street_number, address_1, address_2, suburb, postcode, state,
date_of_birth, soc_sec_id; ids rec-N-org and rec-N-dup-K), converts every
record to a child feed record (dates of birth moved into a child's range,
postcodes made UK-shaped, originals and duplicates from different agencies'
systems), sends them through the HTTP intake of a fresh hub, links them and
prints recall, automatic-link precision, F1, the review share and the
share of true pairs that meet in a block. With --train the area's rules
are then trained on the linked result, as a deployment would, and the
same records are linked again from scratch under them.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchFEBRL(cmd.Context(), v)
		},
	}
	cmd.Flags().StringSlice("in", nil, "FEBRL CSV file (repeat for a linkage pair such as dataset4a and dataset4b)")
	cmd.Flags().String("linkage-weights", "", "link under this rules file (default: the built-in rules)")
	cmd.Flags().Bool("train", false, "then train rules on the linked area and link again from scratch under them")
	cmd.Flags().Int("show-missed", 0, "print this many true pairs that were not linked, field by field (the benchmark's public synthetic data)")
	benchHubFlags(cmd)
	return cmd
}

func benchFEBRL(ctx context.Context, v *viper.Viper) error {
	files := v.GetStringSlice("in")
	if len(files) == 0 {
		return fmt.Errorf("bench febrl: --in FILE is required")
	}
	var recs []febrlChild
	for i, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("bench febrl: %w", err)
		}
		rows, err := readFEBRL(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("bench febrl: %s: %w", filepath.Base(path), err)
		}
		conv, err := convertFEBRL(rows, i+1)
		if err != nil {
			return fmt.Errorf("bench febrl: %s: %w", filepath.Base(path), err)
		}
		recs = append(recs, conv...)
	}
	fmt.Printf("FEBRL: %d records of %d entities from %d file(s)\n", len(recs), countEntities(recs), len(files))
	blocks := newFEBRLBlocks(recs)
	fmt.Printf("blocking (computed on the converted records): %s\n", febrlCompleteness(recs, blocks))

	res, err := febrlRun(ctx, v, recs, v.GetString("linkage-weights"), v.GetBool("train"))
	if err != nil {
		return err
	}
	res.report("rules as given (" + rulesName(v.GetString("linkage-weights")) + ")")
	res.whyMissed(recs, blocks)
	res.showMissed(recs, blocks, v.GetInt("show-missed"))
	if res.trained == "" {
		return nil
	}
	defer os.RemoveAll(filepath.Dir(res.trained))
	again, err := febrlRun(ctx, v, recs, res.trained, false)
	if err != nil {
		return err
	}
	again.report("rules trained on the area as linked")
	again.whyMissed(recs, blocks)
	again.showMissed(recs, blocks, v.GetInt("show-missed"))
	return nil
}

func rulesName(path string) string {
	if path == "" {
		return "built-in version 0"
	}
	return filepath.Base(path)
}

func countEntities(recs []febrlChild) int {
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Entity] = true
	}
	return len(seen)
}

// febrlResult is one linking run scored against the benchmark's truth.
type febrlResult struct {
	refused    int                 // records the intake refused
	child      map[int]uuid.UUID   // record index to its child, for records taken
	pairs      pairCounts          // over all records, refused ones included in the truth
	pairsTaken pairCounts          // over the records the hub took
	review     int64               // open review tasks
	trueReview int                 // of which both children hold one entity
	linkTime   time.Duration       // the linker alone
	trained    string              // a trained rules file, when asked for
	candidates float64             // candidate children scored per record
	index      map[string][]int    // entity to record indexes
	taken      int                 // records the hub took
	missed     [][2]int            // true pairs not linked (both records taken)
	reviewPair map[[2]int]struct{} // missed pairs a review task names
}

func febrlRun(ctx context.Context, v *viper.Viper, recs []febrlChild, rules string, train bool) (*febrlResult, error) {
	h, stop, err := benchHubWith(ctx, v, hub.Config{DeferLinker: true, DeferDirectory: true, LinkageRules: rules})
	if err != nil {
		return nil, err
	}
	defer stop()
	st, err := sendFEBRL(ctx, "http://"+h.Addr(), benchKeys(ctx, h), recs)
	if err != nil {
		return nil, err
	}
	feedLast, err := natsjs.LastSeq(ctx, h.NATS.JS, natsjs.StreamFeeds)
	if err != nil {
		return nil, fmt.Errorf("bench febrl: %w", err)
	}
	start := time.Now()
	h.StartLinker()
	for {
		cp, err := postgres.Checkpoint(ctx, h.DB, linker.CheckpointName)
		if err != nil {
			return nil, fmt.Errorf("bench febrl: %w", err)
		}
		if cp >= feedLast {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	res := &febrlResult{linkTime: time.Since(start), refused: int(st.Quarantined), child: map[int]uuid.UUID{}, index: map[string][]int{}}
	ls := h.Linker.Stats()
	res.candidates = float64(ls.Scored) / float64(max(ls.Decided, 1))
	h.StartDirectory()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := h.WaitProjected(wctx); err != nil {
		return nil, fmt.Errorf("bench febrl: %w", err)
	}
	byKey := map[record.SourceKey]int{}
	for i, r := range recs {
		byKey[record.SourceKey{Agency: r.Record.Source.Agency, System: r.Record.Source.System, RecordID: r.Record.Source.RecordID}] = i
		res.index[r.Entity] = append(res.index[r.Entity], i)
	}
	rows, err := h.DB.Query(ctx, `select agency, system, record_id, child_id from directory_sources`)
	if err != nil {
		return nil, fmt.Errorf("bench febrl: %w", err)
	}
	for rows.Next() {
		var k record.SourceKey
		var id uuid.UUID
		if err := rows.Scan(&k.Agency, &k.System, &k.RecordID, &id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("bench febrl: %w", err)
		}
		if i, ok := byKey[k]; ok {
			res.child[i] = id
		}
	}
	rows.Close()
	res.taken = len(res.child)

	// Pairs: the truth over every record, and over those the hub took.
	byChild := map[uuid.UUID]int64{}
	byBoth := map[[2]any]int64{}
	for i, c := range res.child {
		byChild[c]++
		byBoth[[2]any{c, recs[i].Entity}]++
	}
	for _, idx := range res.index {
		n := int64(len(idx))
		res.pairs.truth += choose2(n)
		var t int64
		for _, i := range idx {
			if _, ok := res.child[i]; ok {
				t++
			}
		}
		res.pairsTaken.truth += choose2(t)
		for a := 0; a < len(idx); a++ {
			for b := a + 1; b < len(idx); b++ {
				ca, oka := res.child[idx[a]]
				cb, okb := res.child[idx[b]]
				if oka && okb && ca != cb {
					res.missed = append(res.missed, [2]int{idx[a], idx[b]})
				}
			}
		}
	}
	for _, n := range byChild {
		res.pairs.predicted += choose2(n)
	}
	for _, n := range byBoth {
		res.pairs.both += choose2(n)
	}
	res.pairsTaken.predicted, res.pairsTaken.both = res.pairs.predicted, res.pairs.both

	counts, err := h.Store.ReviewCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench febrl: %w", err)
	}
	res.review = int64(counts["open"])
	entitiesOf := map[uuid.UUID]map[string]bool{}
	for i, c := range res.child {
		if entitiesOf[c] == nil {
			entitiesOf[c] = map[string]bool{}
		}
		entitiesOf[c][recs[i].Entity] = true
	}
	tasks, err := h.DB.Query(ctx, `select child_id, candidate_id from review_tasks where status = 'open'`)
	if err != nil {
		return nil, fmt.Errorf("bench febrl: %w", err)
	}
	reviewed := map[[2]uuid.UUID]bool{}
	for tasks.Next() {
		var a, b uuid.UUID
		if err := tasks.Scan(&a, &b); err != nil {
			tasks.Close()
			return nil, fmt.Errorf("bench febrl: %w", err)
		}
		reviewed[[2]uuid.UUID{a, b}], reviewed[[2]uuid.UUID{b, a}] = true, true
		for e := range entitiesOf[a] {
			if entitiesOf[b][e] {
				res.trueReview++
				break
			}
		}
	}
	tasks.Close()
	res.reviewPair = map[[2]int]struct{}{}
	for _, p := range res.missed {
		if reviewed[[2]uuid.UUID{res.child[p[0]], res.child[p[1]]}] {
			res.reviewPair[p] = struct{}{}
		}
	}
	if train {
		rules, err := h.Linker.Train(linker.DefaultTrainOptions())
		if err != nil {
			return nil, fmt.Errorf("bench febrl: train: %w", err)
		}
		dir, err := os.MkdirTemp("", "contactpoint-febrl-")
		if err != nil {
			return nil, fmt.Errorf("bench febrl: %w", err)
		}
		res.trained = filepath.Join(dir, "rules.json")
		if err := writeRules(res.trained, rules); err != nil {
			return nil, err
		}
		fmt.Printf("trained rules version %d on %d children and %d candidate pairs\n", rules.Version, rules.TrainedOn.Children, rules.TrainedOn.Pairs)
	}
	return res, nil
}

func (r *febrlResult) report(title string) {
	prf := func(pc pairCounts) (p, rc, f float64) {
		p = float64(pc.both) / float64(max(pc.predicted, 1))
		rc = float64(pc.both) / float64(max(pc.truth, 1))
		return p, rc, 2 * p * rc / max(p+rc, 1e-12)
	}
	p, rc, f := prf(r.pairs)
	_, rcT, fT := prf(r.pairsTaken)
	fmt.Printf("-- %s\n", title)
	fmt.Printf("records taken %d, refused by intake %d (no date of birth, no family name or no calendar date)\n", r.taken, r.refused)
	fmt.Printf("automatic-link precision %.5f  recall %.5f  F1 %.5f  (true pairs %d, linked pairs %d, correct %d)\n",
		p, rc, f, r.pairs.truth, r.pairs.predicted, r.pairs.both)
	fmt.Printf("over the records taken: recall %.5f  F1 %.5f  (true pairs %d)\n", rcT, fT, r.pairsTaken.truth)
	fmt.Printf("review tasks: %d open (%.2f%% of records), of which %d are true matches; missed pairs with a review task: %d of %d\n",
		r.review, 100*float64(r.review)/float64(max(r.taken, 1)), r.trueReview, len(r.reviewPair), len(r.missed))
	fmt.Printf("linking: %d records in %s, %.2f candidate children scored per record\n", r.taken, r.linkTime.Round(time.Millisecond), r.candidates)
}

// whyMissed sorts the true pairs not linked by what stopped them: a record
// the intake refused, no blocking key in common, a review task, or how the
// pair decides on its own under the built-in rules (the twin guard, a score
// in the review band, a score below it, or a link the linker's choice among
// several candidates did not make).
func (r *febrlResult) whyMissed(recs []febrlChild, blocks febrlBlocks) {
	refused := r.pairs.truth - r.pairsTaken.truth
	counts := map[string]int{}
	for _, p := range r.missed {
		switch {
		case !blocks.met(p[0], p[1]):
			counts["no block"]++
		case hasPair(r.reviewPair, p):
			counts["review task"]++
		default:
			fa, fb := match.FeaturesOf(recs[p[0]].Record.Child), match.FeaturesOf(recs[p[1]].Record.Child)
			d := match.Decide(fa, fb, match.DefaultWeights(), match.DefaultThresholds())
			switch {
			case d.Rule == match.RuleTwin:
				counts["twin guard"]++
			case d.Outcome == match.Review:
				counts["review band"]++
			case d.Outcome == match.New:
				counts["below review"]++
			default:
				counts["links alone"]++
			}
		}
	}
	fmt.Printf("true pairs missed: %d with a refused record; %d met in no block; %d with a review task; by the pair alone under version 0: %d kept apart by the twin guard, %d in the review band, %d below it, %d would link\n",
		refused, counts["no block"], counts["review task"], counts["twin guard"], counts["review band"], counts["below review"], counts["links alone"])
}

func hasPair(m map[[2]int]struct{}, p [2]int) bool {
	_, ok := m[p]
	return ok
}

// showMissed prints n missed pairs side by side: the public benchmark's
// synthetic values, so that a reader can see which fields differ.
func (r *febrlResult) showMissed(recs []febrlChild, blocks febrlBlocks, n int) {
	for i, p := range r.missed {
		if i >= n {
			return
		}
		a, b := recs[p[0]], recs[p[1]]
		_, inReview := r.reviewPair[p]
		fmt.Printf("missed (met in a block %v, review task %v):\n  %s\n  %s\n", blocks.met(p[0], p[1]), inReview, febrlLine(a), febrlLine(b))
		fa, fb := match.FeaturesOf(a.Record.Child), match.FeaturesOf(b.Record.Child)
		d := match.Decide(fa, fb, match.DefaultWeights(), match.DefaultThresholds())
		fmt.Printf("  under version 0: %s, %s, score %.1f:", d.Outcome, d.Rule, d.Score)
		for _, f := range match.ExplainDecision(d, match.DefaultWeights()).Fields {
			if f.Level != match.Missing {
				fmt.Printf(" %s;", f.Sentence)
			}
		}
		fmt.Println()
	}
}

func febrlLine(c febrlChild) string {
	ch := c.Record.Child
	pc, lines := "", ""
	if ch.Address != nil {
		pc, lines = ch.Address.Postcode, fmt.Sprint(ch.Address.Lines, " ", ch.Address.Town)
	}
	return fmt.Sprintf("%-14s %q %q %s %s %s", c.Row.RecID, ch.Name.Given, ch.Name.Family, ch.BirthDate, pc, lines)
}

// febrlBlocks holds every record's blocking keys as the linker files them
// and how many entities each key names.
type febrlBlocks struct {
	keys   [][]uint64
	people map[uint64]int32
}

func newFEBRLBlocks(recs []febrlChild) febrlBlocks {
	b := febrlBlocks{keys: make([][]uint64, len(recs)), people: map[uint64]int32{}}
	byEntity := map[string][]int{}
	for i, r := range recs {
		f := match.FeaturesOf(r.Record.Child)
		k := linker.BlockKeys(&f, nil)
		slices.Sort(k)
		b.keys[i] = slices.Compact(k)
		byEntity[r.Entity] = append(byEntity[r.Entity], i)
	}
	for _, idx := range byEntity {
		var mine []uint64
		for _, i := range idx {
			mine = append(mine, b.keys[i]...)
		}
		slices.Sort(mine)
		for _, k := range slices.Compact(mine) {
			b.people[k]++
		}
	}
	return b
}

// met reports two records sharing a key the linker would use (one naming
// at most linker.MaxBlock entities).
func (b febrlBlocks) met(i, j int) bool { return shareUsableKey(b.keys[i], b.keys[j], b.people) }

// febrlCompleteness is the share of true pairs that meet in a block.
func febrlCompleteness(recs []febrlChild, b febrlBlocks) string {
	byEntity := map[string][]int{}
	for i, r := range recs {
		byEntity[r.Entity] = append(byEntity[r.Entity], i)
	}
	var pairs, met int
	for _, idx := range byEntity {
		for x := 0; x < len(idx); x++ {
			for y := x + 1; y < len(idx); y++ {
				pairs++
				if b.met(idx[x], idx[y]) {
					met++
				}
			}
		}
	}
	return fmt.Sprintf("%.5f of %d true pairs meet in a block", float64(met)/float64(max(pairs, 1)), pairs)
}

// sendFEBRL posts the records through the HTTP intake, a batch per system.
func sendFEBRL(ctx context.Context, base string, keyFor func(agency, system string) string, recs []febrlChild) (loadStats, error) {
	var st loadStats
	client := &http.Client{Timeout: 2 * time.Minute}
	type sys struct{ agency, system string }
	var order []sys
	batches := map[sys]*bytes.Buffer{}
	counts := map[sys]int{}
	flush := func(s sys) error {
		if counts[s] == 0 {
			return nil
		}
		err := postBatch(ctx, client, loadOptions{BaseURL: base, KeyFor: keyFor}, loadJob{s.agency, s.system, batches[s].Bytes(), counts[s]}, &st)
		batches[s], counts[s] = &bytes.Buffer{}, 0
		return err
	}
	for _, r := range recs {
		s := sys{r.Record.Source.Agency, r.Record.Source.System}
		if batches[s] == nil {
			batches[s] = &bytes.Buffer{}
			order = append(order, s)
		}
		b, err := json.Marshal(r.Record)
		if err != nil {
			return st, fmt.Errorf("bench febrl: %w", err)
		}
		batches[s].Write(append(b, '\n'))
		if counts[s]++; counts[s] == 1000 {
			if err := flush(s); err != nil {
				return st, err
			}
		}
	}
	for _, s := range order {
		if err := flush(s); err != nil {
			return st, err
		}
	}
	return st, nil
}
