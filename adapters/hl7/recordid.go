package hl7

// RecordID is the record id a message's PID-3 gives the hub — the hospital
// number (type MR, else PI), else the NHS number — or "" when it names no
// valid one. It reads messages that failed mapping, so that a quarantined
// message can be held to the patient it was about.
func RecordID(m *Message) string {
	if m == nil {
		return ""
	}
	pid := m.Segment("PID")
	if pid == nil {
		return ""
	}
	var errs errList
	id := identifiers(pid.Reps(3), "PID-3", "", &errs).recordID
	if !isCode(id) {
		return ""
	}
	return id
}
