package audit

import (
	"bytes"
	"encoding/json"

	"github.com/google/uuid"

	"contactpoint/adapters/parked"
	"contactpoint/domain/audit"
)

// decodeEntry decodes and checks an AUDIT message: an entry with a UUID
// id, a time and an action, as every writer of the trail sets them. A
// refusal is a *parked.Reason that quotes nothing from the message.
func decodeEntry(data []byte) (audit.Entry, error) {
	var e audit.Entry
	if b := bytes.TrimSpace(data); len(b) == 0 || b[0] != '{' {
		return e, parked.Poison(parked.KindUndecodable, "body is not a JSON object")
	}
	if err := json.Unmarshal(data, &e); err != nil {
		// The decoder's message can quote the body; the kind says enough.
		return e, parked.Poison(parked.KindUndecodable, "body is not JSON of the expected shape")
	}
	switch {
	case uuid.Validate(e.ID) != nil:
		return e, parked.Poison(parked.KindInvalidEntry, "id is not a UUID")
	case e.At.IsZero():
		return e, parked.Poison(parked.KindInvalidEntry, "entry has no time")
	case e.Action == "":
		return e, parked.Poison(parked.KindInvalidEntry, "entry has no action")
	}
	return e, nil
}
