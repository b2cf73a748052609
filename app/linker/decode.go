package linker

import (
	"github.com/google/uuid"

	"contactpoint/adapters/childmsg"
	"contactpoint/adapters/parked"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// DecodeChildMsg is childmsg.Decode, the CHILDREN contract's one codec,
// under the name the linker's readers use.
func DecodeChildMsg(subject string, data []byte) (uuid.UUID, child.Batch, error) {
	return childmsg.Decode(subject, data)
}

func subjectChild(subject string) (uuid.UUID, bool) { return childmsg.SubjectChild(subject) }

// DecodeFeedMsg decodes and checks a FEEDS message: a canonical record of
// the current schema, on the subject of the agency and system it names,
// with what its operation needs (a child to upsert, a record to merge). A
// refusal is a *parked.Reason that quotes nothing from the message.
func DecodeFeedMsg(subject string, data []byte) (record.Record, error) {
	var rec record.Record
	if err := childmsg.DecodeObject(data, childmsg.MaxFeedString, parked.KindInvalidRecord, &rec); err != nil {
		return rec, err
	}
	invalid := func(what string) (record.Record, error) {
		return record.Record{}, parked.Poison(parked.KindInvalidRecord, what)
	}
	switch {
	case rec.Schema != record.SchemaID:
		return invalid("schema is not " + record.SchemaID)
	case !record.IsAgency(rec.Source.Agency):
		return invalid("source.agency is not an agency")
	case rec.Source.System == "" || rec.Source.RecordID == "":
		return invalid("source.system or source.record_id is missing")
	case subject != rec.Source.Subject():
		return invalid("subject does not match source.agency and source.system")
	}
	switch rec.Operation {
	case record.OpUpsert:
		if rec.Child == nil {
			return invalid("upsert has no child")
		}
	case record.OpMerge:
		if rec.Merge == nil || rec.Merge.AbsorbedRecordID == "" {
			return invalid("merge names no absorbed record")
		}
	case record.OpWithdraw:
	default:
		return invalid("operation is not upsert, withdraw or merge")
	}
	return rec, nil
}
