// Package childmsg is the one codec of the CHILDREN stream: a message on
// children.<child-uuid> whose body is a child.Batch. Every writer encodes
// with Message and every reader decodes with Decode, so the linker, the
// hub's own appends and the projections agree on one contract without the
// projections depending on the linker.
package childmsg

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
	"contactpoint/domain/retention"
)

// SubjectPrefix starts every subject of CHILDREN.
const SubjectPrefix = "children."

// Subject is the child's subject in CHILDREN.
func Subject(id uuid.UUID) string { return SubjectPrefix + id.String() }

// Message encodes a batch of the child's events as one CHILDREN message, so
// that the batch lands all-or-nothing. feedSeq, when not 0, is the FEEDS
// sequence the decision came from (header Cp-Feed-Seq).
func Message(id uuid.UUID, b child.Batch, feedSeq uint64) (*nats.Msg, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode events: %w", err)
	}
	m := nats.NewMsg(Subject(id))
	m.Data = body
	if feedSeq > 0 {
		m.Header.Set(natsjs.HeaderFeedSeq, strconv.FormatUint(feedSeq, 10))
	}
	m.Header.Set(natsjs.HeaderEvents, strings.Join(b.Types(), ","))
	return m, nil
}

// Bounds on one string in a message. A FEEDS record is validated at intake,
// where the schema allows 254 characters at most (an email address); a
// CHILDREN event also carries free text that stewards and shield officers
// write. Anything far longer did not come through the hub's own front door,
// and a directory row or index entry could not hold it.
const (
	MaxFeedString  = 4 << 10
	maxChildString = 16 << 10
)

// Decode decodes and checks a CHILDREN message. The batch it
// returns keeps the event contract that every reader relies on: the
// subject names the same child as the batch, every event has a type and
// each event type the hub knows carries its payload, and every child id in
// a payload is a UUID. An event type it does not know is passed on for the
// state to ignore, so that a newer writer's event is not refused by an
// older reader. A refusal is a *parked.Reason that quotes nothing from the
// message.
func Decode(subject string, data []byte) (uuid.UUID, child.Batch, error) {
	var b child.Batch
	id, ok := SubjectChild(subject)
	if !ok {
		return id, b, parked.Poison(parked.KindInvalidEvent, "subject is not children.<uuid>")
	}
	if err := DecodeObject(data, maxChildString, parked.KindInvalidEvent, &b); err != nil {
		return id, b, err
	}
	if err := checkBatch(id, &b); err != nil {
		return id, b, err
	}
	return id, b, nil
}

func SubjectChild(subject string) (uuid.UUID, bool) {
	tok, ok := strings.CutPrefix(subject, SubjectPrefix)
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(tok)
	// Only the canonical form: the subject is the child's stream, and
	// another spelling of the same id would be another stream.
	return id, err == nil && id.String() == tok
}

func invalidEvent(i int, what string) error {
	return parked.Poison(parked.KindInvalidEvent, "event "+strconv.Itoa(i)+": "+what)
}

func checkBatch(id uuid.UUID, b *child.Batch) error {
	if bid, err := uuid.Parse(b.ChildID); err != nil || bid != id {
		return parked.Poison(parked.KindInvalidEvent, "child_id does not match the subject's child")
	}
	if len(b.Events) == 0 {
		return parked.Poison(parked.KindInvalidEvent, "batch has no events")
	}
	for i := range b.Events {
		e := &b.Events[i]
		if e.Type == "" {
			return invalidEvent(i, "no type")
		}
		if what := checkEvent(id, e); what != "" {
			return invalidEvent(i, e.Type+" "+what)
		}
	}
	return nil
}

// checkEvent returns what is wrong with an event of a known type, or "".
// The caller names the type only after this matched it to a known one, so
// that a detail never quotes a sender's string.
func checkEvent(id uuid.UUID, e *child.Event) string {
	const missing = "has no payload"
	switch e.Type {
	case child.TypeRegistered:
		if e.Registered == nil {
			return missing
		}
		if rid, err := uuid.Parse(e.Registered.ChildID); err != nil || rid != id {
			return "names another child"
		}
	case child.TypeStated:
		if e.Stated == nil {
			return missing
		}
		if !validKey(e.Stated.Source.Key()) {
			return "has an incomplete source"
		}
	case child.TypeWithdrawn:
		if e.Withdrawn == nil {
			return missing
		}
		if !validKey(e.Withdrawn.Source) {
			return "has an incomplete source"
		}
	case child.TypeShieldApplied:
		if e.Shield == nil {
			return missing
		}
	case child.TypeShieldLifted:
		if e.Lifted == nil {
			return missing
		}
	case child.TypeInvolvementIndicated:
		if e.Involvement == nil {
			return missing
		}
	case child.TypeArchived:
		if e.Archived == nil {
			return missing
		}
	case child.TypeErased:
		if e.Erased == nil {
			return missing
		}
		for _, id := range e.Erased.Linked {
			if !isUUID(id) {
				return "linked is not a list of UUIDs"
			}
		}
	case child.TypeRetentionException:
		if e.Retention == nil {
			return missing
		}
		if !retention.ValidException(e.Retention.Kind) {
			return "has an unknown kind"
		}
	case child.TypeAbsorbed:
		if e.Absorbed == nil {
			return missing
		}
		if !isUUID(e.Absorbed.Absorbed) {
			return "absorbed is not a UUID"
		}
		for _, st := range e.Absorbed.Sources {
			if !validKey(st.Source.Key()) {
				return "has an incomplete source"
			}
		}
	case child.TypeMergedInto:
		if e.MergedInto == nil {
			return missing
		}
		if !isUUID(e.MergedInto.Survivor) {
			return "survivor is not a UUID"
		}
	case child.TypeSourcesMovedOut:
		if e.MovedOut == nil {
			return missing
		}
		if !isUUID(e.MovedOut.To) {
			return "to is not a UUID"
		}
	case child.TypeReviewRequested:
		if e.Review == nil {
			return missing
		}
		if !isUUID(e.Review.Candidate) {
			return "candidate is not a UUID"
		}
		if d := e.Review.Decided; d != nil && (e.Review.Task == 0 || (d.Status != "linked" && d.Status != "not-linked")) {
			return "decided is set without a task, or with a status other than linked or not-linked"
		}
	case child.TypeNotLinked:
		if e.NotLinked == nil {
			return missing
		}
		if !isUUID(e.NotLinked.Other) {
			return "other is not a UUID"
		}
	case child.TypeUnmerged:
		if e.Unmerged == nil {
			return missing
		}
		if !isUUID(e.Unmerged.Survivor) {
			return "survivor is not a UUID"
		}
	case child.TypeCorrected:
		if e.Corrected == nil {
			return missing
		}
		if _, ok := child.Correctable[e.Corrected.Field]; !ok {
			return "corrected field is not correctable"
		}
	case child.TypeCorrectionWithdrawn:
		if e.CorrectionWithdrawn == nil {
			return missing
		}
	case child.TypeCorrectionConfirmed:
		if e.Confirmed == nil {
			return missing
		}
		if _, ok := child.Correctable[e.Confirmed.Field]; !ok {
			return "confirmed field is not correctable"
		}
		if !validKey(e.Confirmed.Source) {
			return "confirmed source is incomplete"
		}
	case child.TypeValueRejected:
		if e.Rejected == nil {
			return missing
		}
		if !validKey(e.Rejected.Source) {
			return "rejected source is incomplete"
		}
	case child.TypeShieldRevealed, child.TypeRevealEnded:
		if e.Revealed == nil {
			return missing
		}
	}
	return ""
}

func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}

func validKey(k record.SourceKey) bool { return k.Agency != "" && k.System != "" && k.RecordID != "" }

// DecodeObject decodes a JSON object (a CHILDREN batch, or a FEEDS record
// for the linker, with its own bound) into v after checking the raw text for
// what a JSON decoder lets through but the hub cannot hold: invalid UTF-8
// and NUL characters (PostgreSQL refuses both in text and jsonb) and
// strings longer than maxString bytes. A panic in the decoder is a refusal
// too: a hostile body must not stop the consumer.
func DecodeObject(data []byte, maxString int, kind string, v any) (err error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return parked.Poison(parked.KindUndecodable, "empty body")
	case trimmed[0] != '{':
		return parked.Poison(parked.KindUndecodable, "body is not a JSON object")
	}
	if what := scanText(data, maxString); what != "" {
		return parked.Poison(kind, what)
	}
	defer func() {
		if recover() != nil {
			err = parked.Poison(parked.KindUndecodable, "body could not be decoded")
		}
	}()
	if err := json.Unmarshal(data, v); err != nil {
		// The decoder's message can quote the body; the kind says enough.
		return parked.Poison(parked.KindUndecodable, "body is not JSON of the expected shape")
	}
	return nil
}

// scanText returns what is wrong with a JSON text's bytes, or "": invalid
// UTF-8, a NUL byte or \u0000 escape, a string longer than max bytes as
// written.
func scanText(data []byte, max int) string {
	if !utf8.Valid(data) {
		return "body is not valid UTF-8"
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return "body holds a NUL byte"
	}
	in, start := false, 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case !in:
			if c == '"' {
				in, start = true, i+1
			}
		case c == '\\':
			if i+5 < len(data) && data[i+1] == 'u' && string(data[i+2:i+6]) == "0000" {
				return "a string holds a NUL character"
			}
			i++ // the escaped character cannot end the string
		case c == '"':
			in = false
			if i-start > max {
				return "a string is longer than " + strconv.Itoa(max) + " bytes"
			}
		}
	}
	if in && len(data)-start > max {
		return "a string is longer than " + strconv.Itoa(max) + " bytes"
	}
	return ""
}
