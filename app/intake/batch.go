package intake

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/domain/record"
)

// Checked is one parsed record validated for its origin and ready to be
// published: either a record for FEEDS or its original bytes for
// QUARANTINE with the reasons. Checking is pure CPU work, so callers that
// import whole files check batches in parallel and publish them in order.
type Checked struct {
	out      Outcome
	rec      *record.Record
	original []byte
}

// Outcome is what the record will become if it is published now; the
// sequence numbers and the duplicate status come from Publish.
func (c Checked) Outcome() Outcome { return c.out }

// Check validates a parsed record as SubmitRecord does. refused, when not
// empty, says the parser could not make a record of original at all (rec
// may be nil): the bytes go to quarantine with those reasons.
func (s *Service) Check(o Origin, original []byte, rec *record.Record, refused []record.FieldError) Checked {
	if len(refused) > 0 || rec == nil {
		if len(refused) == 0 {
			refused = []record.FieldError{{Rule: "unparseable", Message: "the input could not be read as a record"}}
		}
		id := ""
		if rec != nil {
			id = rec.Source.RecordID
		}
		return Checked{out: Outcome{Status: StatusQuarantined, RecordID: id, Errors: refused}, original: original}
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return Checked{out: Outcome{Status: StatusQuarantined, RecordID: rec.Source.RecordID,
			Errors: []record.FieldError{{Rule: "schema", Message: "record could not be encoded"}}}, original: original}
	}
	checked, fes := s.check(o, raw)
	if fes != nil {
		return Checked{out: Outcome{Status: StatusQuarantined, RecordID: rec.Source.RecordID, Errors: fes}, original: original}
	}
	return Checked{out: Outcome{Status: StatusAccepted, RecordID: checked.Source.RecordID}, rec: checked}
}

// CheckJSON validates raw canonical JSON for o without publishing it: a
// steward correcting a quarantined record learns what is still wrong
// without adding another entry to the quarantine.
func (s *Service) CheckJSON(o Origin, raw []byte) (*record.Record, []record.FieldError) {
	return s.check(o, raw)
}

// Pending is a published batch whose acknowledgements have not been read.
type Pending struct {
	s    *Service
	o    Origin
	outs []Outcome
	futs []jetstream.PubAckFuture
}

// Len is the number of records in the batch.
func (p *Pending) Len() int { return len(p.outs) }

// Publish appends a checked batch to FEEDS and QUARANTINE in order without
// waiting for the event log: batches published one after another keep
// their order, and Wait collects the outcomes.
func (s *Service) Publish(o Origin, cs []Checked) (*Pending, error) {
	if err := s.admit(); err != nil {
		return nil, err
	}
	p := &Pending{s: s, o: o, outs: make([]Outcome, len(cs)), futs: make([]jetstream.PubAckFuture, len(cs))}
	for i, c := range cs {
		var (
			f   jetstream.PubAckFuture
			err error
		)
		if c.out.Status == StatusQuarantined {
			f, err = s.publishQuarantine(o, c.original, bestEffortID(c.out.RecordID), c.out.Errors)
		} else {
			f, err = s.publishFeed(c.rec)
		}
		if err != nil {
			return nil, fmt.Errorf("intake record %d: %w", i, err)
		}
		p.outs[i], p.futs[i] = c.out, f
	}
	return p, nil
}

// Wait returns the outcomes of a published batch in its order. An error
// means the event log did not confirm every record; publishing the batch
// again is safe.
func (p *Pending) Wait(ctx context.Context) ([]Outcome, error) {
	for i, f := range p.futs {
		out, err := wait(ctx, f, p.outs[i])
		if err != nil {
			return nil, fmt.Errorf("intake record %d: %w", i, p.s.classify(err))
		}
		p.outs[i] = out
	}
	p.s.stored()
	counted(p.o, p.outs...)
	return p.outs, nil
}

// bestEffortID keeps a record id for the quarantine header only when it is
// safe to carry there.
func bestEffortID(id string) string {
	if id == "" {
		return ""
	}
	b, _ := json.Marshal(map[string]any{"source": map[string]string{"record_id": id}})
	return bestEffortRecordID(b)
}
