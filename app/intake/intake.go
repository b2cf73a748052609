// Package intake is the one door into the event log: every adapter hands it
// records, and it either appends them to FEEDS or quarantines them with
// their reasons. Nothing is dropped: an error return means neither happened
// and the sender must be told to resend.
package intake

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
	"contactpoint/schemas"
)

// Service validates and appends feed records.
type Service struct {
	js  jetstream.JetStream
	v   *schemas.Validator
	adm admission
}

// New returns an intake service writing to js.
func New(js jetstream.JetStream, v *schemas.Validator) *Service {
	return &Service{js: js, v: v}
}

// Item is one record of a submission in its original bytes.
type Item struct {
	Raw []byte
}

// SubmitJSON validates each raw canonical record and appends the valid ones
// to FEEDS and the rest to QUARANTINE, pipelining the publishes so that a
// batch costs one round trip, not one per record. Outcomes are in input order.
func (s *Service) SubmitJSON(ctx context.Context, o Origin, raws [][]byte) ([]Outcome, error) {
	if err := s.admit(); err != nil {
		return nil, err
	}
	out := make([]Outcome, len(raws))
	futs := make([]jetstream.PubAckFuture, len(raws))
	for i, raw := range raws {
		rec, fes := s.check(o, raw)
		var (
			f   jetstream.PubAckFuture
			err error
		)
		if fes != nil {
			out[i] = Outcome{Status: StatusQuarantined, RecordID: bestEffortRecordID(raw), Errors: fes}
			f, err = s.publishQuarantine(o, raw, out[i].RecordID, fes)
		} else {
			out[i] = Outcome{Status: StatusAccepted, RecordID: rec.Source.RecordID}
			f, err = s.publishFeed(rec)
		}
		if err != nil {
			return nil, fmt.Errorf("intake record %d: %w", i, err)
		}
		futs[i] = f
	}
	for i, f := range futs {
		select {
		case ack := <-f.Ok():
			if out[i].Status == StatusQuarantined {
				out[i].QuarantineSeq = ack.Sequence
			} else {
				out[i].FeedSeq = ack.Sequence
				if ack.Duplicate {
					out[i].Status = StatusDuplicate
				}
			}
		case err := <-f.Err():
			return nil, fmt.Errorf("intake record %d: event log did not confirm: %w", i, s.classify(err))
		case <-ctx.Done():
			return nil, fmt.Errorf("intake: %w", ctx.Err())
		}
	}
	s.stored()
	counted(o, out...)
	return out, nil
}

// SubmitRecord implements Submitter for adapters that parse other formats
// into a canonical record: the record is checked against the schema exactly
// as JSON input is, and original is what a quarantine keeps.
func (s *Service) SubmitRecord(ctx context.Context, o Origin, original []byte, rec *record.Record) (Outcome, error) {
	if err := s.admit(); err != nil {
		return Outcome{}, err
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return Outcome{}, fmt.Errorf("encode record: %w", err)
	}
	checked, fes := s.check(o, raw)
	var f jetstream.PubAckFuture
	out := Outcome{RecordID: rec.Source.RecordID}
	if fes != nil {
		out.Status, out.Errors = StatusQuarantined, fes
		f, err = s.publishQuarantine(o, original, out.RecordID, fes)
	} else {
		out.Status = StatusAccepted
		f, err = s.publishFeed(checked)
	}
	if err != nil {
		return Outcome{}, err
	}
	out, err = wait(ctx, f, out)
	if err != nil {
		return out, s.classify(err)
	}
	s.stored()
	counted(o, out)
	return out, nil
}

// Quarantine implements Submitter.
func (s *Service) Quarantine(ctx context.Context, o Origin, original []byte, reasons []record.FieldError) (Outcome, error) {
	out := Outcome{Status: StatusQuarantined, Errors: reasons}
	f, err := s.publishQuarantine(o, original, "", reasons)
	if err != nil {
		return Outcome{}, err
	}
	out, err = wait(ctx, f, out)
	if err == nil {
		counted(o, out)
	}
	return out, err
}

func wait(ctx context.Context, f jetstream.PubAckFuture, out Outcome) (Outcome, error) {
	select {
	case ack := <-f.Ok():
		if out.Status == StatusQuarantined {
			out.QuarantineSeq = ack.Sequence
		} else {
			out.FeedSeq = ack.Sequence
			if ack.Duplicate {
				out.Status = StatusDuplicate
			}
		}
		return out, nil
	case err := <-f.Err():
		return Outcome{}, fmt.Errorf("event log did not confirm: %w", err)
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
}

// check validates raw and makes sure the record speaks for the channel's own
// agency and system: one agency may not write another's records.
func (s *Service) check(o Origin, raw []byte) (*record.Record, []record.FieldError) {
	rec, err := s.v.Decode(raw)
	if err != nil {
		var inv *record.Invalid
		if errors.As(err, &inv) {
			return nil, inv.Errors
		}
		return nil, []record.FieldError{{Field: "", Rule: "schema", Message: err.Error()}}
	}
	var fes []record.FieldError
	if rec.Source.Agency != o.Agency {
		fes = append(fes, record.FieldError{Field: "/source/agency", Rule: "agency-matches-channel",
			Message: fmt.Sprintf("record claims agency %q but was sent on the %q channel", rec.Source.Agency, o.Agency)})
	}
	if o.System != "" && rec.Source.System != o.System {
		fes = append(fes, record.FieldError{Field: "/source/system", Rule: "system-matches-channel",
			Message: fmt.Sprintf("record claims system %q but was sent on the %q channel", rec.Source.System, o.System)})
	}
	if fes != nil {
		return nil, fes
	}
	return rec, nil
}

// MsgID is the dedupe id of a record in FEEDS: the same record with the same
// content is the same message however often it is sent.
func MsgID(rec *record.Record) string { return msgID(rec, child.ContentHash(rec)) }

func msgID(rec *record.Record, hash string) string {
	return "feed:" + rec.Source.Key().String() + ":" + hash
}

func (s *Service) publishFeed(rec *record.Record) (jetstream.PubAckFuture, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	m := nats.NewMsg(rec.Source.Subject())
	m.Data = body
	hash := child.ContentHash(rec)
	m.Header.Set(natsjs.HeaderHash, hash)
	return s.js.PublishMsgAsync(m, jetstream.WithMsgID(msgID(rec, hash)))
}

func (s *Service) publishQuarantine(o Origin, original []byte, recordID string, fes []record.FieldError) (jetstream.PubAckFuture, error) {
	reason, err := json.Marshal(fes)
	if err != nil {
		return nil, fmt.Errorf("encode reasons: %w", err)
	}
	m := nats.NewMsg("quarantine." + token(o.Agency) + "." + token(o.System))
	m.Data = redactForbidden(original, fes)
	m.Header.Set(natsjs.HeaderReason, string(reason))
	m.Header.Set(natsjs.HeaderFormat, o.Format)
	m.Header.Set(natsjs.HeaderChannel, o.Channel)
	if recordID != "" {
		m.Header.Set(natsjs.HeaderRecordID, recordID)
	}
	return s.js.PublishMsgAsync(m)
}

// token makes a value safe as one subject token.
func token(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || r <= ' ' || r > '~' {
			return '_'
		}
		return r
	}, s)
}

// bestEffortRecordID pulls source.record_id out of a refused record so the
// caller can tell which of its records it was; it may be "".
func bestEffortRecordID(raw []byte) string {
	var probe struct {
		Source struct {
			RecordID json.RawMessage `json:"record_id"`
		} `json:"source"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	id, err := strconv.Unquote(string(probe.Source.RecordID))
	if err != nil || len(id) > 64 {
		return ""
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:/-", r)) {
			return "" // it travels in a header: keep only what the schema would allow
		}
	}
	return id
}
