package hl7

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"contactpoint/domain/record"
	"contactpoint/schemas"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

func validator(t testing.TB) *schemas.Validator {
	t.Helper()
	v, err := schemas.NewValidator(fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mustValidate checks that the record passes the hub's own schema, as every
// record an adapter produces from valid input must.
func mustValidate(t testing.TB, r *record.Record) *record.Record {
	t.Helper()
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := validator(t).Decode(raw)
	if err != nil {
		t.Fatalf("record refused by schema: %v\n%s", err, raw)
	}
	return got
}

func mapFile(t *testing.T, name string) (*Result, error) {
	t.Helper()
	m, err := Parse(mustRead(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return Map(m, MapOptions{System: "royal-infirmary-pas"})
}

func TestMapA08v251(t *testing.T) {
	res, err := mapFile(t, "a08_v251.hl7")
	if err != nil {
		t.Fatal(err)
	}
	r := mustValidate(t, res.Record)
	if res.Event != "A08" || res.ControlID != "MSG00001" || res.Merge != nil {
		t.Errorf("result = %+v", res)
	}
	if r.Operation != record.OpUpsert || r.Source.Agency != "health" || r.Source.System != "royal-infirmary-pas" || r.Source.RecordID != "M0048213" {
		t.Errorf("source/op = %+v %s", r.Source, r.Operation)
	}
	if r.Source.Version != "20261002091400" {
		t.Errorf("version = %q", r.Source.Version)
	}
	// 09:14 in October is British Summer Time: 08:14 UTC.
	if r.Source.UpdatedAt == nil || !r.Source.UpdatedAt.Equal(time.Date(2026, 10, 2, 8, 14, 0, 0, time.UTC)) {
		t.Errorf("updated_at = %v", r.Source.UpdatedAt)
	}
	c := r.Child
	if c.NHSNumber() != "9434765919" {
		t.Errorf("nhs = %q", c.NHSNumber())
	}
	if len(c.Identifiers.Local) != 1 || c.Identifiers.Local[0] != (record.LocalID{System: "royal-infirmary-pas:mr", Value: "M0048213"}) {
		t.Errorf("local ids = %+v", c.Identifiers.Local)
	}
	if c.Name != (record.Name{Family: "Hughes", Given: "Olivia", Middle: "Grace"}) {
		t.Errorf("name = %+v", c.Name)
	}
	if c.BirthDate != "2015-03-14" || c.Gender != "female" {
		t.Errorf("dob/gender = %s %s", c.BirthDate, c.Gender)
	}
	if c.Address == nil || c.Address.Postcode != "LS6 2AB" || c.Address.Town != "Leeds" || strings.Join(c.Address.Lines, "|") != "14 Elm Grove|Flat 2" {
		t.Errorf("address = %+v", c.Address)
	}
	if len(c.Contacts) != 2 {
		t.Fatalf("contacts = %+v", c.Contacts)
	}
	if c.Contacts[0].Relationship != "mother" || c.Contacts[0].Name.Given != "Sarah" || c.Contacts[0].Phone != "07700 900123" {
		t.Errorf("contact 0 = %+v", c.Contacts[0])
	}
	if c.Contacts[1].Relationship != "father" || c.Contacts[1].Phone != "" {
		t.Errorf("contact 1 = %+v", c.Contacts[1])
	}
	if c.GPPractice == nil || *c.GPPractice != (record.GPPractice{Name: "Hyde Park Surgery", ODSCode: "B86001"}) {
		t.Errorf("gp = %+v", c.GPPractice)
	}
}

func TestMapNeverCarriesClinicalSegments(t *testing.T) {
	res, err := mapFile(t, "a08_v251.hl7")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(res.Record)
	for _, s := range []string{"Asthma", "Penicillin", "Appendectomy", "J45", "private", "Diagnosis"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("record carries %q from a clinical or Z segment: %s", s, raw)
		}
	}
}

func TestMapA04v23(t *testing.T) {
	res, err := mapFile(t, "a04_v23.hl7")
	if err != nil {
		t.Fatal(err)
	}
	r := mustValidate(t, res.Record)
	c := r.Child
	if r.Source.RecordID != "M123" || c.Identifiers.NHSNumber != "" {
		t.Errorf("ids = %+v %+v", r.Source, c.Identifiers)
	}
	if c.Name.Family != "O'Brien" || c.Gender != "male" || c.BirthDate != "2012-01-01" {
		t.Errorf("child = %+v", c)
	}
	if c.Address.Postcode != "LS1 1AA" || c.Address.Lines[0] != "1 Main St" {
		t.Errorf("address = %+v", c.Address)
	}
	if c.Contacts[0].Phone != "(0113) 496 0001" {
		t.Errorf("phone with extension = %q", c.Contacts[0].Phone)
	}
	if c.GPPractice.ODSCode != "B86002" || c.GPPractice.Name != "Park Surgery" {
		t.Errorf("gp (2.3 XON-3) = %+v", c.GPPractice)
	}
	if r.Source.Version != "200806260904" {
		t.Errorf("version = %q", r.Source.Version)
	}
}

func TestMapA40Merge(t *testing.T) {
	res, err := mapFile(t, "a40_v251.hl7")
	if err != nil {
		t.Fatal(err)
	}
	if res.Record != nil || res.Merge == nil {
		t.Fatalf("result = %+v", res)
	}
	want := record.SourceKey{Agency: "health", System: "royal-infirmary-pas", RecordID: "M0048213"}
	if res.Merge.Survivor != want || res.Merge.Absorbed.RecordID != "M0099999" {
		t.Errorf("merge = %+v", res.Merge)
	}
}

const (
	h251 = "MSH|^~\\&|PAS|RIH|CP|LEEDS|20261002091400||ADT^%s|C1|P|2.5.1\rEVN||20261002091400\r"
	pidA = "PID|1||M1^^^RIH^MR~9434765919^^^NHS^NH||Lee^Ann||20160102|F|||1 High St^^Leeds^^LS1 1AA\r"
)

func msg(event, rest string) string { return strings.Replace(h251, "%s", event, 1) + rest }

func TestMapOperations(t *testing.T) {
	tests := []struct {
		event string
		op    string
	}{
		{"A01", record.OpUpsert}, {"A04", record.OpUpsert}, {"A08", record.OpUpsert},
		{"A28", record.OpUpsert}, {"A31", record.OpUpsert}, {"A29", record.OpWithdraw}, {"A23", record.OpWithdraw},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			res, err := Map(mustParse(t, msg(tt.event, pidA)), MapOptions{System: "pas"})
			if err != nil {
				t.Fatal(err)
			}
			r := mustValidate(t, res.Record)
			if r.Operation != tt.op {
				t.Errorf("operation = %s, want %s", r.Operation, tt.op)
			}
			if tt.op == record.OpWithdraw && r.Child != nil {
				t.Errorf("withdrawal carries demographics: %+v", r.Child)
			}
		})
	}
}

func TestMapVersionDedupesResendsOnly(t *testing.T) {
	a := msg("A08", pidA)
	resend := strings.Replace(a, "|C1|", "|C2|", 1) // a resend gets a new control id
	update := strings.ReplaceAll(a, "20261002091400", "20261002101500")
	v := func(s string) string {
		res, err := Map(mustParse(t, s), MapOptions{System: "pas"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Record.Source.Version
	}
	if v(a) != v(resend) {
		t.Errorf("resend changed version: %s vs %s", v(a), v(resend))
	}
	if v(a) == v(update) {
		t.Errorf("update kept version %s", v(a))
	}
}

func TestMapNHSByOIDOnly(t *testing.T) {
	m := mustParse(t, msg("A08", "PID|1||M1^^^RIH^MR~9434765919^^^&2.16.840.1.113883.2.1.4.1&ISO||Lee^Ann||20160102\r"))
	res, err := Map(m, MapOptions{System: "pas"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Record.Child.NHSNumber() != "9434765919" {
		t.Errorf("nhs = %q", res.Record.Child.NHSNumber())
	}
}

func TestMapRefuses(t *testing.T) {
	tests := []struct {
		name  string
		msg   string
		ack   string
		code  int
		field string
		rule  string
	}{
		{"not ADT", strings.Replace(msg("A01", pidA), "ADT^A01", "ORU^R01", 1), AckReject, CodeUnsupportedMessage, "MSH-9", "unsupported-message"},
		{"unsupported event", msg("A02", pidA), AckReject, CodeUnsupportedEvent, "MSH-9.2", "unsupported-event"},
		{"not version 2", strings.Replace(msg("A01", pidA), "|2.5.1", "|3.0", 1), AckReject, CodeUnsupportedVersion, "MSH-12", "unsupported-version"},
		{"no PID", msg("A01", ""), AckError, CodeRequiredFieldMissing, "PID", "required"},
		{"no identifiers", msg("A01", "PID|1||||Lee^Ann||20160102\r"), AckError, CodeRequiredFieldMissing, "PID-3", "required"},
		{"bad NHS number", msg("A01", "PID|1||M1^^^^MR~9434765918^^^NHS||Lee^Ann||20160102\r"), AckError, CodeDataTypeError, "PID-3.1", "nhs-number"},
		{"no family name", msg("A01", "PID|1||M1^^^^MR||^Ann||20160102\r"), AckError, CodeRequiredFieldMissing, "PID-5.1", "required"},
		{"no DOB", msg("A01", "PID|1||M1^^^^MR||Lee^Ann\r"), AckError, CodeRequiredFieldMissing, "PID-7", "required"},
		{"bad DOB", msg("A01", "PID|1||M1^^^^MR||Lee^Ann||20161302\r"), AckError, CodeDataTypeError, "PID-7", "date"},
		{"bad sex", msg("A01", "PID|1||M1^^^^MR||Lee^Ann||20160102|Q\r"), AckError, CodeTableValueNotFound, "PID-8", "administrative-sex"},
		{"bad postcode", msg("A01", "PID|1||M1^^^^MR||Lee^Ann||20160102|F|||1 High St^^Leeds^^NOTAPC\r"), AckError, CodeDataTypeError, "PID-11.5", "uk-postcode"},
		{"bad ODS code", msg("A01", pidA+"PD1|||Surgery^^^^^^^^^123\r"), AckError, CodeDataTypeError, "PD1-3", "ods-code"},
		{"bad contact phone", msg("A01", pidA+"NK1|1|Lee^Bo|MTH||call me\r"), AckError, CodeDataTypeError, "NK1[1]-5", "phone"},
		{"bad record id", msg("A01", "PID|1||M 1^^^^MR||Lee^Ann||20160102\r"), AckError, CodeDataTypeError, "PID-3.1", "identifier"},
		{"bad timestamp", strings.Replace(msg("A01", pidA), "|20261002091400|", "|2026-10-02|", 1), AckError, CodeDataTypeError, "MSH-7", "timestamp"},
		{"A40 without MRG", msg("A40", pidA), AckError, CodeRequiredFieldMissing, "MRG", "required"},
		{"A40 MRG without ids", msg("A40", pidA+"MRG|\r"), AckError, CodeRequiredFieldMissing, "MRG-1", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Map(mustParse(t, tt.msg), MapOptions{System: "pas"})
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if he.Ack != tt.ack || he.Code != tt.code {
				t.Errorf("ack/code = %s/%d, want %s/%d", he.Ack, he.Code, tt.ack, tt.code)
			}
			found := false
			for _, fe := range he.Errors {
				if fe.Field == tt.field && fe.Rule == tt.rule {
					found = true
				}
				if strings.Contains(fe.Message, "Lee") || strings.Contains(fe.Message, "Ann") {
					t.Errorf("error message carries personal data: %q", fe.Message)
				}
			}
			if !found {
				t.Errorf("errors = %+v, want %s/%s", he.Errors, tt.field, tt.rule)
			}
		})
	}
}

func TestMapLenient(t *testing.T) {
	tests := []struct {
		name  string
		pid   string
		check func(*record.Child) bool
	}{
		{"address without postcode keeps its lines", "PID|1||M1^^^^MR||Lee^Ann||20160102|F|||1 High St^^Leeds\r", func(c *record.Child) bool {
			return c.Address != nil && c.Address.Postcode == "" && c.Address.Lines[0] == "1 High St" && c.Address.Town == "Leeds"
		}},
		{"address with neither postcode nor lines omitted", "PID|1||M1^^^^MR||Lee^Ann||20160102|F|||^^Leeds\r", func(c *record.Child) bool { return c.Address == nil }},
		{"address abroad", "PID|1||M1^^^^MR||Lee^Ann||20160102|F|||12 Rue de la Paix^^Paris^^75002^FRA^H\r", func(c *record.Child) bool {
			a := c.Address
			return a != nil && a.Kind == record.AddressAbroad && a.Country == "FRA" && a.Postcode == "" && len(a.Lines) == 2 && a.Lines[1] == "75002"
		}},
		{"UK country code is not abroad", "PID|1||M1^^^^MR||Lee^Ann||20160102|F|||1 High St^^Leeds^^LS1 1AA^GBR^H\r", func(c *record.Child) bool {
			return c.Address.Kind == "" && c.Address.Postcode == "LS1 1AA"
		}},
		{"NHS pseudo-postcode for no fixed abode", "PID|1||M1^^^^MR||Lee^Ann||20160102|F|||^^^^ZZ99 3VZ\r", func(c *record.Child) bool {
			return c.Address != nil && c.Address.Kind == record.AddressNoFixedAbode && c.Address.Postcode == ""
		}},
		{"home address preferred", "PID|1||M1^^^^MR||Lee^Ann||20160102|F|||PO Box^^York^^YO1 7HH^^M~1 High St^^Leeds^^LS1 1AA^^H\r", func(c *record.Child) bool { return c.Address.Postcode == "LS1 1AA" }},
		{"DOB with time", "PID|1||M1^^^^MR||Lee^Ann||201601021230\r", func(c *record.Child) bool { return c.BirthDate == "2016-01-02" }},
		{"name in second repetition", "PID|1||M1^^^^MR||~Lee^Ann||20160102\r", func(c *record.Child) bool { return c.Name.Family == "Lee" }},
		{"unknown relationship is other", "PID|1||M1^^^^MR||Lee^Ann||20160102\rNK1|1|Lee^Jo|ZZZ\r", func(c *record.Child) bool { return c.Contacts[0].Relationship == "other" }},
		{"2.5 XTN local number", "PID|1||M1^^^^MR||Lee^Ann||20160102\rNK1|1|Lee^Jo|GRD||^PRN^PH^^^0113^4960002\r", func(c *record.Child) bool {
			return c.Contacts[0].Relationship == "guardian" && c.Contacts[0].Phone == "0113 4960002"
		}},
		{"GP by code only", "PID|1||M1^^^^MR||Lee^Ann||20160102\rPD1|||^^^^^^^^^B86001\r", func(c *record.Child) bool { return c.GPPractice.Name == "B86001" }},
		{"only NHS number", "PID|1||9434765919^^^NHS^NH||Lee^Ann||20160102\r", func(c *record.Child) bool { return c.Identifiers.NHSNumber == "9434765919" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Map(mustParse(t, msg("A08", tt.pid)), MapOptions{System: "pas"})
			if err != nil {
				t.Fatal(err)
			}
			r := mustValidate(t, res.Record)
			if !tt.check(r.Child) {
				t.Errorf("child = %+v", r.Child)
			}
		})
	}
}

func TestParseTS(t *testing.T) {
	utc := time.UTC
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"20260102", time.Date(2026, 1, 2, 0, 0, 0, 0, utc), true},
		{"202601021530", time.Date(2026, 1, 2, 15, 30, 0, 0, utc), true},
		{"20260102153045.123", time.Date(2026, 1, 2, 15, 30, 45, 0, utc), true},
		{"20260102153045+0100", time.Date(2026, 1, 2, 14, 30, 45, 0, utc), true},
		{"20260102-0500", time.Date(2026, 1, 2, 5, 0, 0, 0, utc), true},
		{"2026-01-02", time.Time{}, false},
		{"20261340", time.Time{}, false},
		{"20260102+01", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTS(tt.in, utc)
		if (err == nil) != tt.ok || tt.ok && !got.Equal(tt.want) {
			t.Errorf("ParseTS(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
