// Package fileimport streams a whole agency file (CTF XML, CSV) through its
// parser into intake, and reports what became of every record. The file is
// never held whole: the parser reads it token by token, a bounded number of
// batches are in flight at once, and the report keeps counts and a few
// examples, not the records, so memory stays flat whatever the file size.
package fileimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"time"

	"contactpoint/adapters/csvfeed"
	"contactpoint/adapters/ctf"
	"contactpoint/app/intake"
	"contactpoint/domain/record"
)

// Source yields one parsed record at a time with the bytes a quarantine
// keeps. refused non-empty means the parser could not make a record of
// raw; err means the file itself is unusable from here on; io.EOF ends it.
type Source interface {
	Next() (rec *record.Record, raw []byte, refused []record.FieldError, err error)
}

// CTF reads a Common Transfer File for the education system named system.
func CTF(r io.Reader, system string) Source { return ctfSource{ctf.NewReader(r, system)} }

type ctfSource struct{ r *ctf.Reader }

func (c ctfSource) Next() (*record.Record, []byte, []record.FieldError, error) {
	rec, raw, err := c.r.Next()
	return rec, raw, nil, err
}

// CSV reads a CSV extract with mapping m.
func CSV(r io.Reader, m csvfeed.Mapping, agency, system string) Source {
	return csvfeed.NewReader(r, m, agency, system)
}

// Intake is what the importer needs of intake.Service.
type Intake interface {
	Check(o intake.Origin, original []byte, rec *record.Record, refused []record.FieldError) intake.Checked
	Publish(o intake.Origin, cs []intake.Checked) (*intake.Pending, error)
}

// Options tune the pipeline; zero values take the defaults.
type Options struct {
	Batch    int // records per batch (default 500)
	Checkers int // batches validated in parallel (default GOMAXPROCS, at most 8)
	InFlight int // published batches awaiting the event log (default 8)
	Examples int // record ids kept per reason (default 5)
}

func (o Options) withDefaults() Options {
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Checkers <= 0 {
		o.Checkers = min(runtime.GOMAXPROCS(0), 8)
	}
	if o.InFlight <= 0 {
		o.InFlight = 8
	}
	if o.Examples <= 0 {
		o.Examples = 5
	}
	return o
}

// Report is what became of a file.
type Report struct {
	Agency      string        `json:"agency"`
	System      string        `json:"system"`
	Format      string        `json:"format"`
	Records     int           `json:"records"`
	Accepted    int           `json:"accepted"`
	Duplicates  int           `json:"duplicates"`
	Quarantined int           `json:"quarantined"`
	Reasons     []Reason      `json:"reasons,omitempty"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	// Error says why the file could not be read to its end; the records
	// before that point are in the counts above and were stored.
	Error string `json:"error,omitempty"`
}

// Reason groups the quarantined records that broke one rule on one field.
type Reason struct {
	Rule           string   `json:"rule"`
	Field          string   `json:"field"`
	Count          int      `json:"count"`
	RecordIDs      []string `json:"record_ids,omitempty"`      // the first few; "#n" for the n-th record of the file when it had no id
	QuarantineSeqs []uint64 `json:"quarantine_seqs,omitempty"` // of the same records, to fetch and fix
}

// ErrUnreadable wraps a failure of the file itself (broken XML, a mapping
// that names headers the file lacks), as opposed to the event log.
var ErrUnreadable = errors.New("file unreadable")

type batch struct {
	n     int // position in the file
	first int // index in the file of the batch's first record
	items []item
	cs    []intake.Checked
	done  chan struct{}
}

type item struct {
	rec     *record.Record
	raw     []byte
	refused []record.FieldError
}

// Import reads src to its end, submitting every record with origin o. The
// report is returned with the error too: it counts what was stored before
// the failure. An error wrapping ErrUnreadable is the file's fault; any
// other means the event log did not confirm, and importing the file again
// is safe (records already stored come back as duplicates).
func Import(ctx context.Context, in Intake, o intake.Origin, src Source, opt Options) (*Report, error) {
	opt = opt.withDefaults()
	start := time.Now()
	rep := &Report{Agency: o.Agency, System: o.System, Format: o.Format}
	agg := newAggregator(opt.Examples)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// parse → check (parallel) → publish in file order → wait for acks.
	// Each channel is bounded, so at most a fixed number of batches is
	// held whatever the file size.
	toCheck := make(chan *batch, opt.Checkers)
	ordered := make(chan *batch, opt.Checkers*2)
	published := make(chan *intake.Pending, opt.InFlight)
	firsts := make(chan int, opt.InFlight)

	var parseErr error
	parsed := make(chan struct{})
	go func() {
		defer close(parsed)
		defer close(toCheck)
		defer close(ordered)
		n, idx := 0, 0
		for ctx.Err() == nil {
			b := &batch{n: n, first: idx, items: make([]item, 0, opt.Batch), done: make(chan struct{})}
			for len(b.items) < opt.Batch {
				rec, raw, refused, err := src.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					parseErr = err
					break
				}
				b.items = append(b.items, item{rec, raw, refused})
			}
			if len(b.items) == 0 {
				return
			}
			idx += len(b.items)
			n++
			select {
			case ordered <- b:
			case <-ctx.Done():
				return
			}
			select {
			case toCheck <- b:
			case <-ctx.Done():
				return
			}
			if parseErr != nil || len(b.items) < opt.Batch {
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for range opt.Checkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range toCheck {
				b.cs = make([]intake.Checked, len(b.items))
				for i, it := range b.items {
					b.cs[i] = in.Check(o, it.raw, it.rec, it.refused)
				}
				b.items = nil
				close(b.done)
			}
		}()
	}

	var pubErr error
	go func() {
		defer close(published)
		defer close(firsts)
		for b := range ordered {
			select {
			case <-b.done:
			case <-ctx.Done():
				return
			}
			p, err := in.Publish(o, b.cs)
			if err != nil {
				pubErr = err
				cancel()
				return
			}
			select {
			case published <- p:
				firsts <- b.first
			case <-ctx.Done():
				return
			}
		}
	}()

	var waitErr error
	for p := range published {
		first := <-firsts
		outs, err := p.Wait(ctx)
		if err != nil {
			waitErr = err
			cancel()
			break
		}
		for i, out := range outs {
			rep.Records++
			switch out.Status {
			case intake.StatusAccepted:
				rep.Accepted++
			case intake.StatusDuplicate:
				rep.Duplicates++
			default:
				rep.Quarantined++
				agg.add(first+i, out)
			}
		}
	}
	cancel()
	for range published {
		<-firsts
	}
	// The parser stops at its next batch boundary; waiting for it means
	// nothing reads the caller's reader after Import returns.
	<-parsed
	wg.Wait()
	rep.Reasons = agg.list()
	rep.Elapsed = time.Since(start)
	switch {
	case pubErr != nil:
		return rep, fmt.Errorf("import %s file: %w", o.Format, pubErr)
	case waitErr != nil:
		return rep, fmt.Errorf("import %s file: %w", o.Format, waitErr)
	case parseErr != nil:
		rep.Error = parseErr.Error()
		return rep, fmt.Errorf("import %s file after %d records: %w: %w", o.Format, rep.Records, ErrUnreadable, parseErr)
	}
	return rep, nil
}

type aggregator struct {
	examples int
	by       map[[2]string]*Reason
}

func newAggregator(examples int) *aggregator {
	return &aggregator{examples: examples, by: map[[2]string]*Reason{}}
}

func (a *aggregator) add(index int, out intake.Outcome) {
	id := out.RecordID
	if id == "" {
		id = fmt.Sprintf("#%d", index+1)
	}
	seen := map[[2]string]bool{}
	for _, fe := range out.Errors {
		k := [2]string{fe.Rule, fe.Field}
		if seen[k] {
			continue
		}
		seen[k] = true
		r := a.by[k]
		if r == nil {
			r = &Reason{Rule: fe.Rule, Field: fe.Field}
			a.by[k] = r
		}
		r.Count++
		if len(r.RecordIDs) < a.examples {
			r.RecordIDs = append(r.RecordIDs, id)
			if out.QuarantineSeq != 0 {
				r.QuarantineSeqs = append(r.QuarantineSeqs, out.QuarantineSeq)
			}
		}
	}
}

func (a *aggregator) list() []Reason {
	out := make([]Reason, 0, len(a.by))
	for _, r := range a.by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		if out[i].Rule != out[j].Rule {
			return out[i].Rule < out[j].Rule
		}
		return out[i].Field < out[j].Field
	})
	return out
}
