// Package match decides whether two agency records describe the same child.
// It is pure: no I/O, no clock, no randomness, so the linker can replay a
// decision from the event log and get the same answer.
//
// The pieces, in the order the linker uses them:
//
//   - FeaturesOf normalises a record once (names folded for case, spacing,
//     punctuation, diacritics and apostrophes; nickname groups; NYSIIS codes;
//     postcode, sector and district; phone numbers in national form; address
//     first line; only check-digit-valid NHS numbers and UPNs).
//   - BlockingKeys files the record under a handful of keys; only records
//     sharing a key are compared.
//   - Compare grades each field (Exact, Close, Partial, Weak, Disagree or
//     Missing) into a ComparisonVector.
//   - Decide applies the deterministic rules (shared or conflicting national
//     identifiers, the twins guard) and otherwise the Fellegi–Sunter score
//     under Weights against Thresholds.
//   - Explain turns a decision's vector into per-field weights and sentences
//     a steward can read; it names no personal data.
//   - EstimateWeights (unsupervised EM over candidate pairs) and
//     LearnWeights (from steward-labelled pairs) replace DefaultWeights with
//     weights fitted to the area's own data.
//
// A child known from several source records is matched by DecideBest, which
// decides against each source record and combines the results, rather than
// by merging the sources into one synthetic record.
package match
