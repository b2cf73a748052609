// Package quarantine lets data stewards list what intake refused, read one
// entry's original bytes, and resubmit a corrected version through the
// normal intake. The QUARANTINE stream is append-only like every other part
// of the log: an entry is never changed or deleted, and a resubmission that
// is accepted appends a small marker on quarantine.resolved.<seq> instead.
//
// Reading uses an ephemeral ordered consumer (headers only) for a page of
// the list and direct gets for single entries and markers, never a durable
// consumer per request.
package quarantine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/hl7"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/intake"
	"contactpoint/domain/record"
)

// Marker subject and headers. Intake never sets Cp-Resolves, so an agency
// that names itself "resolved" on the NATS intake cannot forge a marker.
const (
	SubjectResolvedPrefix = "quarantine.resolved."
	HeaderResolves        = "Cp-Resolves"    // the quarantine sequence a marker resolves
	HeaderResolvedBy      = "Cp-Resolved-By" // the steward's practitioner id
	HeaderFeedSeq         = "Cp-Feed-Seq"    // where the corrected record landed in FEEDS
)

// Limits on one list request.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	// maxScan bounds the messages one page reads, so that a long run of
	// resolved or filtered-out entries cannot make one request unbounded;
	// the page's Next resumes after it.
	maxScan = 5000
)

// Errors the adapters map to statuses.
var (
	ErrNotFound        = errors.New("no quarantine entry with that sequence")
	ErrResolved        = errors.New("quarantine entry already resolved")
	ErrNotResubmit     = errors.New("quarantine entry cannot be resubmitted")
	ErrEmptyCorrection = errors.New("the corrected record is empty")
)

// Entry is one refused input, without its bytes.
type Entry struct {
	Seq      uint64              `json:"seq"`
	Subject  string              `json:"subject"`
	Agency   string              `json:"agency"`
	System   string              `json:"system"`
	Time     time.Time           `json:"time"`
	Format   string              `json:"format"`
	Channel  string              `json:"channel"`
	RecordID string              `json:"record_id,omitempty"`
	Reasons  []record.FieldError `json:"reasons"`
	Size     int                 `json:"size"`
	Resolved *Resolution         `json:"resolved,omitempty"`
}

// Resolution says when and how an entry was resolved.
type Resolution struct {
	Seq     uint64    `json:"seq"` // the marker's own sequence
	At      time.Time `json:"at"`
	By      string    `json:"by,omitempty"`
	FeedSeq uint64    `json:"feed_seq,omitempty"`
}

// Filter selects entries for List.
type Filter struct {
	Agency          string
	System          string
	After           uint64 // list entries with a greater sequence
	Limit           int
	IncludeResolved bool
}

// Page is one page of the list. Next, when not zero, is the After of the
// following page.
type Page struct {
	Entries []Entry `json:"entries"`
	Next    uint64  `json:"next,omitempty"`
}

// Store reads and resolves the quarantine.
type Store struct {
	JS     jetstream.JetStream
	Intake *intake.Service
	// HL7 names the hub's systems for sending facilities, as the MLLP
	// listener does; a corrected HL7 message is mapped with it.
	HL7 hl7.Config
	// SourceHeld reports whether the hub already holds a source record. A
	// correction of an entry whose original named no record id may only
	// name a record its system has not sent before; without SourceHeld
	// such entries cannot be resubmitted.
	SourceHeld func(ctx context.Context, key record.SourceKey) (bool, error)
}

// Rules of the refusals that hold a correction to its entry.
const (
	RuleSameAgency = "same-agency"
	RuleSameSystem = "same-system"
	RuleSameRecord = "same-record"
	RuleNewRecord  = "new-record"
)

func (s *Store) stream(ctx context.Context) (jetstream.Stream, error) {
	st, err := s.JS.Stream(ctx, natsjs.StreamQuarantine)
	if err != nil {
		return nil, fmt.Errorf("quarantine stream: %w", err)
	}
	return st, nil
}

// List returns entries in sequence order.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	page := Page{Entries: []Entry{}}
	if f.Limit <= 0 {
		f.Limit = DefaultLimit
	}
	f.Limit = min(f.Limit, MaxLimit)
	for _, tok := range []string{f.Agency, f.System} {
		if strings.ContainsAny(tok, ".*> \t") {
			return page, fmt.Errorf("agency and system may not contain '.', '*', '>' or spaces")
		}
	}
	st, err := s.stream(ctx)
	if err != nil {
		return page, err
	}
	filter := "quarantine." + orStar(f.Agency) + "." + orStar(f.System)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    f.After + 1,
		HeadersOnly:    true,
	})
	if err != nil {
		return page, fmt.Errorf("quarantine list: %w", err)
	}
	defer st.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name) //nolint:errcheck // an ordered consumer also expires by itself
	pending := int(min(cons.CachedInfo().NumPending, uint64(maxScan)))
	if pending == 0 {
		return page, nil
	}
	scanned := 0
	for {
		// A fetch waits until its batch is full or its wait runs out: asking
		// for no more than are pending answers as soon as they arrive,
		// where a fuller batch would hold every listing for the wait.
		want := min(256, maxScan-scanned, max(pending-scanned, 1))
		batch, err := cons.Fetch(want, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return page, fmt.Errorf("quarantine list: %w", err)
		}
		n, last, end := 0, uint64(0), false
		for m := range batch.Messages() {
			n++
			scanned++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			last = md.Sequence.Stream
			if md.NumPending == 0 {
				end = true
			}
			if len(page.Entries) >= f.Limit {
				continue // drained, not listed: the page is full
			}
			if isMarker(m.Subject(), m.Headers()) {
				continue
			}
			e := entryOf(md.Sequence.Stream, m.Subject(), md.Timestamp, m.Headers())
			if size, err := strconv.Atoi(m.Headers().Get("Nats-Msg-Size")); err == nil {
				e.Size = size
			}
			if e.Resolved, err = s.resolution(ctx, st, e.Seq); err != nil {
				return page, err
			}
			if e.Resolved != nil && !f.IncludeResolved {
				continue
			}
			page.Entries = append(page.Entries, e)
			if len(page.Entries) == f.Limit && !end {
				page.Next = e.Seq
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return page, fmt.Errorf("quarantine list: %w", err)
		}
		switch {
		case len(page.Entries) >= f.Limit || end || n == 0:
			return page, nil
		case scanned >= maxScan:
			page.Next = last
			return page, nil
		}
	}
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func isMarker(subject string, h nats.Header) bool {
	return strings.HasPrefix(subject, SubjectResolvedPrefix) && h.Get(HeaderResolves) != ""
}

func entryOf(seq uint64, subject string, at time.Time, h nats.Header) Entry {
	e := Entry{Seq: seq, Subject: subject, Time: at.UTC(), Reasons: []record.FieldError{},
		Format: h.Get(natsjs.HeaderFormat), Channel: h.Get(natsjs.HeaderChannel), RecordID: h.Get(natsjs.HeaderRecordID)}
	if parts := strings.Split(subject, "."); len(parts) == 3 {
		e.Agency, e.System = parts[1], parts[2]
	}
	_ = json.Unmarshal([]byte(h.Get(natsjs.HeaderReason)), &e.Reasons)
	return e
}

// resolution looks up the marker of seq by direct get.
func (s *Store) resolution(ctx context.Context, st jetstream.Stream, seq uint64) (*Resolution, error) {
	m, err := st.GetLastMsgForSubject(ctx, SubjectResolvedPrefix+strconv.FormatUint(seq, 10))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine entry %d: %w", seq, err)
	}
	if m.Header.Get(HeaderResolves) != strconv.FormatUint(seq, 10) {
		return nil, nil // not written by Resolve
	}
	r := &Resolution{Seq: m.Sequence, At: m.Time.UTC(), By: m.Header.Get(HeaderResolvedBy)}
	r.FeedSeq, _ = strconv.ParseUint(m.Header.Get(HeaderFeedSeq), 10, 64)
	return r, nil
}

// Get returns one entry and the bytes it holds.
func (s *Store) Get(ctx context.Context, seq uint64) (Entry, []byte, error) {
	st, err := s.stream(ctx)
	if err != nil {
		return Entry{}, nil, err
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Entry{}, nil, ErrNotFound
	}
	if err != nil {
		return Entry{}, nil, fmt.Errorf("quarantine entry %d: %w", seq, err)
	}
	if isMarker(m.Subject, m.Header) {
		return Entry{}, nil, ErrNotFound
	}
	e := entryOf(m.Sequence, m.Subject, m.Time, m.Header)
	e.Size = len(m.Data)
	if e.Resolved, err = s.resolution(ctx, st, seq); err != nil {
		return Entry{}, nil, err
	}
	return e, m.Data, nil
}

// Result is what became of a resubmission. When Errors is not empty the
// correction was refused and nothing was stored: the entry stays open, and
// no new entry is added for a steward's attempt.
type Result struct {
	Entry   Entry               `json:"entry"`
	Outcome *intake.Outcome     `json:"outcome,omitempty"`
	Errors  []record.FieldError `json:"errors,omitempty"`
}

// Resubmit puts a corrected version of entry seq through intake with the
// entry's own agency and system. The correction is in the entry's format
// for json and hl7v2, and canonical JSON for ctf and csv (a single record
// cannot be a file). Accepted, it marks the entry resolved by steward.
func (s *Store) Resubmit(ctx context.Context, seq uint64, correction []byte, steward string) (Result, error) {
	e, original, err := s.Get(ctx, seq)
	if err != nil {
		return Result{}, err
	}
	res := Result{Entry: e}
	if e.Resolved != nil {
		return res, ErrResolved
	}
	if !record.IsAgency(e.Agency) {
		return res, fmt.Errorf("%w: the entry's agency is not one the hub knows; the sender must resend on its own channel", ErrNotResubmit)
	}
	if len(strings.TrimSpace(string(correction))) == 0 {
		return res, ErrEmptyCorrection
	}
	if e.System == "unknown" || !record.IsSystem(e.System) {
		// Nobody could say which system sent it, so no correction can be
		// held to that system.
		return res, fmt.Errorf("%w: the entry's system is not known; the sender must resend on its own channel", ErrNotResubmit)
	}
	o := intake.Origin{Agency: e.Agency, System: e.System, Format: e.Format, Channel: "resubmit"}
	if res.Errors, err = s.sameSource(ctx, e, original, correction); err != nil || len(res.Errors) > 0 {
		return res, err
	}
	var rec *record.Record
	if e.Format == "hl7v2" {
		rec, res.Errors = s.mapHL7(o, correction)
	} else {
		rec, res.Errors = s.Intake.CheckJSON(o, []byte(strings.TrimSpace(string(correction))))
	}
	if len(res.Errors) > 0 {
		return res, nil
	}
	if c := s.Intake.Check(o, correction, rec, nil); c.Outcome().Status == intake.StatusQuarantined {
		res.Errors = c.Outcome().Errors
		return res, nil
	}
	out, err := s.Intake.SubmitRecord(ctx, o, correction, rec)
	if err != nil {
		return res, fmt.Errorf("resubmit quarantine entry %d: %w", seq, err)
	}
	res.Outcome = &out
	if out.Status == intake.StatusQuarantined {
		res.Errors = out.Errors
		return res, nil
	}
	if res.Entry.Resolved, err = s.resolve(ctx, seq, steward, out.FeedSeq); err != nil {
		return res, err
	}
	return res, nil
}

// sameSource holds a correction to the entry it corrects: the same agency,
// system and record id, so that a resubmission cannot speak for another
// sender or overwrite another of the sender's records. The record id is the
// entry's own, else what its original bytes name. When the original names
// none, the correction may name only a record the system has not sent
// before. A correction whose source cannot be read at all is left to
// validation, which refuses it.
func (s *Store) sameSource(ctx context.Context, e Entry, original, correction []byte) ([]record.FieldError, error) {
	fAgency, fSystem, fRecord := "/source/agency", "/source/system", "/source/record_id"
	var agency, system, id, want string
	switch e.Format {
	case "hl7v2":
		fAgency, fSystem, fRecord = "MSH-4", "MSH-4", "PID-3"
		m, err := hl7.Parse(correction)
		if err != nil {
			return nil, nil
		}
		agency, system, id = hl7.Agency, s.HL7.SystemFor(m.Header().Get(4, 1, 1)), hl7.RecordID(m)
		if want = e.RecordID; want == "" {
			if om, _ := hl7.Parse(original); om != nil {
				want = hl7.RecordID(om)
			}
		}
	default:
		var probe struct {
			Source struct {
				Agency   string `json:"agency"`
				System   string `json:"system"`
				RecordID string `json:"record_id"`
			} `json:"source"`
		}
		if json.Unmarshal(correction, &probe) != nil {
			return nil, nil
		}
		agency, system, id = probe.Source.Agency, probe.Source.System, probe.Source.RecordID
		if want = e.RecordID; want == "" && e.Format == "json" {
			want = intake.RecordIDOf(original)
		}
	}
	var fes []record.FieldError
	if agency != e.Agency {
		fes = append(fes, record.FieldError{Field: fAgency, Rule: RuleSameAgency,
			Message: "a correction must keep the entry's agency (" + e.Agency + "): it may not speak for another agency"})
	}
	if system != e.System {
		fes = append(fes, record.FieldError{Field: fSystem, Rule: RuleSameSystem,
			Message: "a correction must keep the entry's system (" + e.System + "): it may not speak for another system"})
	}
	switch {
	case want != "" && id != want:
		// The ids themselves stay out of the message: a hospital number
		// identifies a patient.
		fes = append(fes, record.FieldError{Field: fRecord, Rule: RuleSameRecord,
			Message: "a correction must keep the entry's record id: it names another record"})
	case want == "" && id != "" && len(fes) == 0:
		if s.SourceHeld == nil {
			return nil, fmt.Errorf("%w: the entry names no record id, and this hub cannot check that the correction's is new", ErrNotResubmit)
		}
		held, err := s.SourceHeld(ctx, record.SourceKey{Agency: e.Agency, System: e.System, RecordID: id})
		if err != nil {
			return nil, fmt.Errorf("quarantine entry %d: look up the correction's record: %w", e.Seq, err)
		}
		if held {
			fes = append(fes, record.FieldError{Field: fRecord, Rule: RuleNewRecord,
				Message: "the entry's original names no record id, so a correction may only name a record its system has not sent before: this one is held already"})
		}
	}
	return fes, nil
}

func (s *Store) mapHL7(o intake.Origin, raw []byte) (*record.Record, []record.FieldError) {
	msg, err := hl7.Parse(raw)
	if err != nil {
		var pe *hl7.ParseError
		if errors.As(err, &pe) {
			return nil, []record.FieldError{{Field: pe.Field, Rule: "hl7-syntax", Message: pe.Message}}
		}
		return nil, []record.FieldError{{Rule: "hl7-syntax", Message: err.Error()}}
	}
	system := o.System
	if system == "" {
		system = s.HL7.SystemFor(msg.Header().Get(4, 1, 1))
	}
	res, err := hl7.Map(msg, hl7.MapOptions{System: system})
	if err != nil {
		var he *hl7.Error
		if errors.As(err, &he) {
			return nil, he.Errors
		}
		return nil, []record.FieldError{{Rule: "mapping", Message: err.Error()}}
	}
	return res.Canonical(), nil
}

// resolve appends the marker. Its message id makes a retry harmless.
func (s *Store) resolve(ctx context.Context, seq uint64, steward string, feedSeq uint64) (*Resolution, error) {
	m := nats.NewMsg(SubjectResolvedPrefix + strconv.FormatUint(seq, 10))
	m.Header.Set(HeaderResolves, strconv.FormatUint(seq, 10))
	if steward != "" {
		m.Header.Set(HeaderResolvedBy, steward)
	}
	if feedSeq != 0 {
		m.Header.Set(HeaderFeedSeq, strconv.FormatUint(feedSeq, 10))
	}
	ack, err := s.JS.PublishMsg(ctx, m, jetstream.WithMsgID("resolved:"+strconv.FormatUint(seq, 10)))
	if err != nil {
		return nil, fmt.Errorf("mark quarantine entry %d resolved: %w", seq, err)
	}
	return &Resolution{Seq: ack.Sequence, At: time.Now().UTC(), By: steward, FeedSeq: feedSeq}, nil
}
