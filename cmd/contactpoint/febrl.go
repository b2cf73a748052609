package main

// FEBRL (Christen's Freely Extensible Biomedical Record Linkage) publishes
// synthetic adult records with known duplicates: an original and up to a
// few corrupted copies of it (typos, swapped or missing names, changed
// street numbers, suburb and postcode errors, mistyped dates). This file
// converts such a CSV into child feed records, so that the linker can be
// measured on a population and an error model that are not the hub's own
// generator's. The data stays outside the repository: the command reads a
// file given on the command line.

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"contactpoint/domain/record"
)

// febrlRow is one FEBRL record as published.
type febrlRow struct {
	RecID                              string // rec-12-org, rec-12-dup-0
	Given, Surname                     string
	StreetNumber, Address1, Address2   string
	Suburb, Postcode, State, BirthDate string // BirthDate YYYYMMDD
	SocSecID                           string
}

// readFEBRL reads a FEBRL CSV: a header line, then rec_id, given_name,
// surname, street_number, address_1, address_2, suburb, postcode, state,
// date_of_birth, soc_sec_id, each value possibly preceded by a space.
func readFEBRL(r io.Reader) ([]febrlRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 11
	cr.TrimLeadingSpace = true
	var out []febrlRow
	for line := 1; ; line++ {
		f, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("febrl csv line %d: %w", line, err)
		}
		if line == 1 && strings.EqualFold(strings.TrimSpace(f[0]), "rec_id") {
			continue
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		out = append(out, febrlRow{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10]})
	}
}

// febrlEntity is the true entity of a FEBRL record (the number in
// rec-12-dup-0) and whether the record is the original.
func febrlEntity(recID string) (entity string, original bool, dup int, err error) {
	parts := strings.Split(recID, "-")
	if len(parts) < 3 || parts[0] != "rec" {
		return "", false, 0, fmt.Errorf("febrl rec_id %q is not rec-N-org or rec-N-dup-K", recID)
	}
	switch {
	case parts[2] == "org" && len(parts) == 3:
		return parts[1], true, 0, nil
	case parts[2] == "dup" && len(parts) == 4:
		k, err := strconv.Atoi(parts[3])
		if err != nil {
			return "", false, 0, fmt.Errorf("febrl rec_id %q: duplicate number: %w", recID, err)
		}
		return parts[1], false, k, nil
	}
	return "", false, 0, fmt.Errorf("febrl rec_id %q is not rec-N-org or rec-N-dup-K", recID)
}

// febrlSystems: originals come from one health system, each duplicate from
// another agency's system, so no two records of one child share a system's
// record id and every pair is found by linkage, as between agencies.
var febrlSystems = []struct{ agency, system string }{
	{"health", "febrl-pas"},
	{"education", "febrl-mis"},
	{"social-care", "febrl-case"},
	{"health", "febrl-gp"},
	{"youth-justice", "febrl-yot"},
	{"education", "febrl-college"},
}

// febrlChild is a converted record and the entity it is about.
type febrlChild struct {
	Record record.Record
	Entity string
	Row    febrlRow // as read, for the report of missed pairs

}

// convertFEBRL turns FEBRL rows into feed records. Every step is a fixed
// function of the value alone, so an original and its duplicate are
// transformed alike and an error in one stays an error of the same kind:
//   - date of birth: the year is moved into the last 15 years as
//     2012 + (year − 1900) mod 12, day and month kept. Twelve years keep a
//     year's leap-ness (Feb 29 stays valid) and give strangers about the
//     chance of sharing a birthday that a child area has; a year typo stays
//     a different year. A mistyped date that is no calendar date stays so
//     (the hub refuses it, as it would from an agency);
//   - postcode: the four Australian digits become a UK-shaped postcode by
//     position (area, district, sector, unit), so that a one-digit error
//     changes one part as a keying slip would;
//   - names, street and suburb: kept, in title case; street_number and
//     address_1 make the first line, address_2 the second, the suburb the
//     town;
//   - record id: the file's line, opaque; soc_sec_id, which FEBRL corrupts
//     like any field and which no UK agency shares, is not sent.
//
// file numbers the input files, so that two files' lines have distinct ids.
func convertFEBRL(rows []febrlRow, file int) ([]febrlChild, error) {
	out := make([]febrlChild, 0, len(rows))
	for i, r := range rows {
		entity, original, dup, err := febrlEntity(r.RecID)
		if err != nil {
			return nil, err
		}
		sys := febrlSystems[0]
		if !original {
			sys = febrlSystems[1+dup%(len(febrlSystems)-1)]
		}
		ch := &record.Child{
			Name:      record.Name{Given: titleCase(r.Given), Family: titleCase(r.Surname)},
			BirthDate: febrlBirthDate(r.BirthDate),
		}
		var lines []string
		if l := strings.TrimSpace(r.StreetNumber + " " + titleCase(r.Address1)); l != "" {
			lines = append(lines, l)
		}
		if r.Address2 != "" {
			lines = append(lines, titleCase(r.Address2))
		}
		pc := febrlPostcode(r.Postcode)
		if len(lines) > 0 || pc != "" {
			ch.Address = &record.Address{Lines: lines, Town: titleCase(r.Suburb), Postcode: pc}
		}
		out = append(out, febrlChild{
			Record: record.Record{
				Schema:    record.SchemaID,
				Operation: record.OpUpsert,
				Source:    record.Source{Agency: sys.agency, System: sys.system, RecordID: fmt.Sprintf("F%d-%d", file, i+1)},
				Child:     ch,
			},
			Entity: entity,
			Row:    r,
		})
	}
	return out, nil
}

// febrlBirthDate rewrites YYYYMMDD into a child's date (see convertFEBRL);
// what is not eight digits is passed on as it is, for the hub to refuse.
func febrlBirthDate(s string) string {
	if len(s) != 8 {
		return s
	}
	y, err := strconv.Atoi(s[:4])
	if err != nil {
		return s
	}
	if _, err := strconv.Atoi(s[4:]); err != nil {
		return s
	}
	ny := 2012 + ((y-1900)%12+12)%12
	d := fmt.Sprintf("%04d-%s-%s", ny, s[4:6], s[6:8])
	if _, err := time.Parse(time.DateOnly, d); err != nil {
		return d // a mistyped day or month: the hub refuses it
	}
	return d
}

// Areas and unit letters of the UK-shaped postcodes. Unit letters avoid
// C, I, K, M, O and V, which UK postcodes never use there.
var (
	febrlAreas = []string{"LS", "M", "B", "NE", "S", "BS", "L", "CF", "NG", "LE"}
	febrlUnits = "ABDEFGHJLNPQRSTUWXYZ"
)

// febrlPostcode maps four digits d1 d2 d3 d4 to area(d1) district(d2+1)
// sector(d3) and a unit from d4: an error in one digit changes one part.
// Anything else is no postcode.
func febrlPostcode(s string) string {
	if len(s) != 4 {
		return ""
	}
	var d [4]int
	for i := range 4 {
		if s[i] < '0' || s[i] > '9' {
			return ""
		}
		d[i] = int(s[i] - '0')
	}
	return fmt.Sprintf("%s%d %d%c%c", febrlAreas[d[0]], d[1]+1, d[2], febrlUnits[d[3]], febrlUnits[(d[3]*7+3)%len(febrlUnits)])
}

// titleCase writes "o'shanassy street" as "O'shanassy Street".
func titleCase(s string) string {
	b := []rune(strings.TrimSpace(s))
	start := true
	for i, r := range b {
		if start {
			b[i] = unicode.ToUpper(r)
		}
		start = r == ' ' || r == '-'
	}
	return string(b)
}
