package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"

	"contactpoint/schemas"
)

// A few records in FEBRL's published layout, written here: an original, a
// duplicate with its names swapped and a postcode digit mistyped, one with
// a mistyped year, one without a date of birth and one whose date is no
// calendar date.
const febrlFixture = `rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id
rec-7-org, ashleigh, quilliam, 57, bedford street, rosall, surrey hills, 6525, nsw, 19460730, 6408479
rec-7-dup-0, quilliam, ashleigh, 57, bedford s treet, rosall, surrey hills, 6526, nsw, 19460730, 6408579
rec-7-dup-1, ashleigh, quilliam, , bedford street, , surrey hills, , nsw, 19470730, 6408479
rec-8-org, joshua, o'shanassy, 2, , , , , vic, , 7096343
rec-8-dup-3, joshua, o'shanassy, 2, lambrigg street, , rowville, 3185, qld, 19551192, 7096343
`

func TestConvertFEBRL(t *testing.T) {
	rows, err := readFEBRL(strings.NewReader(febrlFixture))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := convertFEBRL(rows, 1)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }
	val, err := schemas.NewValidator(now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		entity, given, family, birth, postcode, system string
		lines                                          int
		valid                                          bool
	}{
		// 1946: 2012 + 46 mod 12 = 2022, day and month kept.
		{"7", "Ashleigh", "Quilliam", "2022-07-30", "L6 2GY", "febrl-pas", 2, true},
		// The same transformation: the names stay swapped, the postcode
		// differs in its unit only, as the digit did.
		{"7", "Quilliam", "Ashleigh", "2022-07-30", "L6 2HG", "febrl-mis", 2, true},
		// A year typo stays a year typo; no street number, no postcode.
		{"7", "Ashleigh", "Quilliam", "2023-07-30", "", "febrl-case", 1, true},
		// No date of birth: the hub refuses the record, as from an agency.
		{"8", "Joshua", "O'shanassy", "", "", "febrl-pas", 1, false},
		// A mistyped date that is no calendar date is refused too.
		{"8", "Joshua", "O'shanassy", "2019-11-92", "NE2 8GY", "febrl-yot", 1, false},
	}
	if len(recs) != len(tests) {
		t.Fatalf("%d records, want %d", len(recs), len(tests))
	}
	ids := map[string]bool{}
	for i, tt := range tests {
		r := recs[i]
		ch := r.Record.Child
		pc, lines := "", 0
		if ch.Address != nil {
			pc, lines = ch.Address.Postcode, len(ch.Address.Lines)
		}
		if r.Entity != tt.entity || ch.Name.Given != tt.given || ch.Name.Family != tt.family || ch.BirthDate != tt.birth ||
			pc != tt.postcode || r.Record.Source.System != tt.system || lines != tt.lines {
			t.Errorf("record %d: entity %s %q %q %s %q %s, %d lines; want %+v", i, r.Entity, ch.Name.Given, ch.Name.Family, ch.BirthDate, pc, r.Record.Source.System, lines, tt)
		}
		if strings.Contains(r.Record.Source.RecordID, "rec") || ids[r.Record.Source.RecordID] {
			t.Errorf("record %d: record id %q names the truth or repeats", i, r.Record.Source.RecordID)
		}
		ids[r.Record.Source.RecordID] = true
		raw, err := json.Marshal(r.Record)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := val.Decode(raw); (err == nil) != tt.valid {
			t.Errorf("record %d: valid %v, want %v (%v)", i, err == nil, tt.valid, err)
		}
	}
}

func TestFEBRLPostcodeAndDate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2119", "B2 1NH"},
		{"0812", "LS9 1DX"},
		{"212", ""},
		{"21a9", ""},
	}
	for _, tt := range tests {
		got := febrlPostcode(tt.in)
		if got != tt.want {
			t.Errorf("febrlPostcode(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got != "" && schemas.NormalisePostcode(got) != got {
			t.Errorf("febrlPostcode(%q) = %q is not a UK postcode", tt.in, got)
		}
	}
	dates := []struct{ in, want string }{
		{"19560409", "2020-04-09"},
		{"19840229", "2012-02-29"}, // a leap year stays one: twelve is a multiple of four
		{"19960229", "2012-02-29"},
		{"19080419", "2020-04-19"},
		{"", ""},
		{"1956040", "1956040"},
	}
	for _, tt := range dates {
		if got := febrlBirthDate(tt.in); got != tt.want {
			t.Errorf("febrlBirthDate(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestBenchFEBRLLinksSwappedNames runs a few converted records through a
// fresh hub's intake and linker, as bench febrl does: the duplicate with
// its names keyed the wrong way round is linked to its original, the
// stranger at the same postcode is not, and a record without a date of
// birth is refused and counted.
func TestBenchFEBRLLinksSwappedNames(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub")
	}
	const csv = `rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id
rec-1-org, ashleigh, quilliam, 57, bedford street, rosall, surrey hills, 6525, nsw, 19460730, 6408479
rec-1-dup-0, quilliam, ashleigh, 57, bedford s treet, rosall, surrey hills, 6525, nsw, 19460730, 6408579
rec-2-org, harry, dolan, 3, bedford street, , surrey hills, 6525, nsw, 19810622, 2014032
rec-3-org, joshua, morrison, 17, beasley street, , tingalpa, 5097, vic, , 1294692
`
	rows, err := readFEBRL(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := convertFEBRL(rows, 1)
	if err != nil {
		t.Fatal(err)
	}
	v := viper.New()
	v.Set("pg-server", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	res, err := febrlRun(context.Background(), v, recs, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if res.refused != 1 || res.taken != 3 {
		t.Errorf("refused %d, taken %d; want 1 and 3", res.refused, res.taken)
	}
	if res.child[0] != res.child[1] {
		t.Error("the duplicate with swapped names was not linked to its original")
	}
	if res.child[2] == res.child[0] {
		t.Error("the neighbour was linked to the child")
	}
	if res.pairs != (pairCounts{predicted: 1, truth: 1, both: 1}) {
		t.Errorf("pairs %+v, want one true pair, linked", res.pairs)
	}
}
