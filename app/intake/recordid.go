package intake

// RecordIDOf is the source.record_id a canonical JSON record names, when it
// is one the schema would allow, or "". It reads records that failed
// validation, so that a refused record can still be told apart from others.
func RecordIDOf(raw []byte) string { return bestEffortRecordID(raw) }
