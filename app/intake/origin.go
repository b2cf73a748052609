package intake

import (
	"context"

	"contactpoint/domain/record"
)

// Origin says where a submission came from. Agency and System come from the
// authenticated channel, never from the message alone.
type Origin struct {
	Agency  string // one of record.Agencies
	System  string // the agency system, as in feeds.<agency>.<system>
	Format  string // "json", "hl7v2", "ctf", "csv"
	Channel string // "http", "nats", "mllp", "file"
}

// Outcome statuses.
const (
	StatusAccepted    = "accepted"
	StatusDuplicate   = "duplicate"
	StatusQuarantined = "quarantined"
)

// Outcome is what became of one submitted record.
type Outcome struct {
	Status        string              `json:"status"`
	RecordID      string              `json:"record_id,omitempty"`
	FeedSeq       uint64              `json:"feed_seq,omitempty"`
	QuarantineSeq uint64              `json:"quarantine_seq,omitempty"`
	Errors        []record.FieldError `json:"errors,omitempty"`
}

// Submitter is the one door into the event log for every adapter. An error
// return means the hub could not store the outcome (the event log is down):
// the caller must not acknowledge the message to its sender.
type Submitter interface {
	// SubmitRecord validates rec against the feed record schema and appends it
	// to FEEDS, or quarantines original (the bytes as the agency sent them)
	// with every reason.
	SubmitRecord(ctx context.Context, o Origin, original []byte, rec *record.Record) (Outcome, error)
	// Quarantine keeps bytes that could not be turned into a record at all,
	// with the reasons, so that they can be fixed and resubmitted.
	Quarantine(ctx context.Context, o Origin, original []byte, reasons []record.FieldError) (Outcome, error)
}
