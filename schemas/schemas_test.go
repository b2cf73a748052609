package schemas

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"contactpoint/domain/record"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

func mustValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := NewValidator(fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestExamplesAreValid(t *testing.T) {
	v, err := NewValidator(nil) // the real clock: examples must stay valid as time passes
	if err != nil {
		t.Fatal(err)
	}
	for _, agency := range record.Agencies {
		raw, err := FS.ReadFile("examples/" + agency + ".json")
		if err != nil {
			t.Fatalf("no example for agency %s: %v", agency, err)
		}
		r, err := v.Decode(raw)
		if err != nil {
			t.Errorf("%s: %v", agency, err)
			continue
		}
		if r.Source.Agency != agency {
			t.Errorf("%s example has agency %q", agency, r.Source.Agency)
		}
	}
}

func TestDecodeNormalises(t *testing.T) {
	raw, _ := FS.ReadFile("examples/health.json")
	r, err := mustValidator(t).Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.Child.NHSNumber() != "9434765919" || r.Child.Address.Postcode != "LS6 2AB" {
		t.Fatalf("not normalised: %q %q", r.Child.NHSNumber(), r.Child.Address.Postcode)
	}
}

// base is a minimal valid record that each case breaks in one place.
const base = `{"schema":"contactpoint.feed-record.v1","source":{"agency":"health","system":"pas","record_id":"R1"},"operation":"upsert","child":{"name":{"given":"Ann","family":"Lee"},"birth_date":"2016-01-02"%s}%s}`

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name, raw, field, rule string
	}{
		{"malformed", `{"schema":`, "", "json"},
		{"not an object", `[1,2]`, "", "type"},
		{"diagnosis", sprintf(base, `,"diagnosis":"asthma"`, ``), "/child/diagnosis", "forbidden-field"},
		{"case notes at top", sprintf(base, ``, `,"notes":"seen at home"`), "/notes", "forbidden-field"},
		{"ethnicity", sprintf(base, `,"ethnicity":"x"`, ``), "/child/ethnicity", "forbidden-field"},
		{"unknown field", sprintf(base, `,"shoe_size":4`, ``), "/child/shoe_size", "basic-information-only"},
		{"nested unknown", sprintf(base, `,"gp_practice":{"name":"X","medications":"y"}`, ``), "/child/gp_practice/medications", "forbidden-field"},
		{"bad nhs check", sprintf(base, `,"identifiers":{"nhs_number":"9434765918"}`, ``), "/child/identifiers/nhs_number", "format:nhs-number"},
		{"bad upn check", sprintf(base, `,"identifiers":{"upn":"A821200714001"}`, ``), "/child/identifiers/upn", "format:upn"},
		{"future dob", strings.Replace(sprintf(base, ``, ``), "2016-01-02", "2027-01-01", 1), "/child/birth_date", "format:child-birth-date"},
		{"adult dob", strings.Replace(sprintf(base, ``, ``), "2016-01-02", "2008-11-24", 1), "/child/birth_date", "format:child-birth-date"},
		{"impossible dob", strings.Replace(sprintf(base, ``, ``), "2016-01-02", "2016-02-30", 1), "/child/birth_date", "format:child-birth-date"},
		{"bad postcode", sprintf(base, `,"address":{"postcode":"NOT A PC"}`, ``), "/child/address/postcode", "format:uk-postcode"},
		{"bad agency", strings.Replace(sprintf(base, ``, ``), `"health"`, `"police"`, 1), "/source/agency", "enum"},
		{"missing child on upsert", `{"schema":"contactpoint.feed-record.v1","source":{"agency":"health","system":"pas","record_id":"R1"},"operation":"upsert"}`, "/child", "required"},
		{"injection in record id", strings.Replace(sprintf(base, ``, ``), `"R1"`, `"R1'; DROP TABLE children;--"`, 1), "/source/record_id", "pattern"},
		{"control chars", strings.Replace(sprintf(base, ``, ``), `"Ann"`, `"A\u0000nn"`, 1), "/child/name/given", "pattern"},
		{"sensitive without consent", sprintf(base, `,"involvements":[{"service":"Clinic","kind":"sexual-health"}]`, ``), "/child/involvements/0/kind", "sensitive-service-consent"},
		{"oversized", `{"x":"` + strings.Repeat("a", MaxRecordBytes) + `"}`, "", "max-size"},
	}
	v := mustValidator(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Decode([]byte(tt.raw))
			var inv *record.Invalid
			if !errors.As(err, &inv) {
				t.Fatalf("want *record.Invalid, got %v", err)
			}
			for _, fe := range inv.Errors {
				if fe.Field == tt.field && fe.Rule == tt.rule {
					if fe.Message == "" {
						t.Fatal("empty message")
					}
					return
				}
			}
			t.Fatalf("want %s %s among %+v", tt.field, tt.rule, inv.Errors)
		})
	}
}

func TestSensitiveWithConsentAccepted(t *testing.T) {
	raw := sprintf(base, `,"involvements":[{"service":"Clinic","kind":"sexual-health"}]`,
		`,"consents":[{"scope":"sensitive-services","given_by":"young-person","recorded_at":"2026-01-01T00:00:00Z"}]`)
	if _, err := mustValidator(t).Decode([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	withdrawn := sprintf(base, `,"involvements":[{"service":"Clinic","kind":"drug"}]`,
		`,"consents":[{"scope":"sensitive-services","given_by":"young-person","recorded_at":"2026-01-01T00:00:00Z"},{"scope":"sensitive-services","given_by":"young-person","recorded_at":"2026-02-01T00:00:00Z","withdrawn":true}]`)
	if _, err := mustValidator(t).Decode([]byte(withdrawn)); err == nil {
		t.Fatal("withdrawn consent accepted a sensitive service")
	}
}

func TestNormalisePostcode(t *testing.T) {
	for in, want := range map[string]string{"ls62ab": "LS6 2AB", " SW1A 1AA ": "SW1A 1AA", "M1 1AE": "M1 1AE", "B33 8TH": "B33 8TH", "12345": "", "": "", "LS6 2A": ""} {
		if got := NormalisePostcode(in); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, a := range record.Agencies {
		raw, _ := FS.ReadFile("examples/" + a + ".json")
		f.Add(raw)
	}
	f.Add([]byte(`{"schema":"contactpoint.feed-record.v1"}`))
	f.Add([]byte(`[{"a":}]`))
	v := mustValidator(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := v.Decode(raw)
		if err == nil && (r == nil || r.Source.RecordID == "") {
			t.Fatal("accepted a record without a source id")
		}
		var inv *record.Invalid
		if err != nil && errors.As(err, &inv) && len(inv.Errors) == 0 {
			t.Fatal("refusal without a reason")
		}
	})
}

func sprintf(f string, a ...any) string { return fmtSprintf(f, a...) }

var fmtSprintf = fmt.Sprintf

// TestIncompleteAddressesAreReal: a child of no fixed abode, on a Traveller
// site or abroad has an address without a postcode, and "no known address"
// is a value; what each kind must (or must not) carry is checked, and the
// NHS pseudo-postcodes are read for what they mean.
func TestIncompleteAddressesAreReal(t *testing.T) {
	tests := []struct {
		name    string
		address string
		ok      bool
		want    *record.Address // after normalising, when ok
	}{
		{"UK postcode", `{"lines":["14 Elm Grove"],"postcode":"ls62ab"}`, true, &record.Address{Lines: []string{"14 Elm Grove"}, Postcode: "LS6 2AB"}},
		{"lines, postcode not known", `{"lines":["14 Elm Grove"],"town":"Leeds"}`, true, nil},
		{"no fixed abode", `{"kind":"no-fixed-abode"}`, true, nil},
		{"no fixed abode, last known town", `{"kind":"no-fixed-abode","town":"Leeds"}`, true, nil},
		{"Traveller site", `{"kind":"traveller-site","lines":["Cottingley Springs"],"town":"Leeds"}`, true, nil},
		{"abroad", `{"kind":"abroad","lines":["12 Rue de la Paix"],"town":"Paris","country":"France"}`, true, nil},
		{"no known address", `{"kind":"no-known-address"}`, true, nil},
		{"pseudo-postcode: no fixed abode", `{"postcode":"ZZ99 3VZ"}`, true, &record.Address{Kind: record.AddressNoFixedAbode}},
		{"pseudo-postcode: not known", `{"postcode":"ZZ99 3WZ"}`, true, &record.Address{Kind: record.AddressNoneKnown}},
		{"pseudo-postcode: abroad", `{"lines":["12 Rue de la Paix"],"postcode":"ZZ99 6NZ"}`, true, &record.Address{Kind: record.AddressAbroad, Lines: []string{"12 Rue de la Paix"}, Country: "not stated"}},
		{"nothing at all", `{}`, false, nil},
		{"only a town", `{"town":"Leeds"}`, false, nil},
		{"abroad without a country", `{"kind":"abroad","lines":["12 Rue de la Paix"]}`, false, nil},
		{"abroad with a UK postcode", `{"kind":"abroad","country":"France","postcode":"LS6 2AB"}`, false, nil},
		{"no known address with lines", `{"kind":"no-known-address","lines":["14 Elm Grove"]}`, false, nil},
		{"unknown kind", `{"kind":"houseboat","lines":["Berth 4"]}`, false, nil},
		{"a foreign postcode as a UK one", `{"kind":"abroad","country":"France","postcode":"75002"}`, false, nil},
	}
	v := mustValidator(t)
	for _, tt := range tests {
		r, err := v.Decode([]byte(sprintf(base, `,"address":`+tt.address, ``)))
		switch {
		case tt.ok && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case !tt.ok && err == nil:
			t.Errorf("%s: accepted", tt.name)
		case tt.ok && tt.want != nil && fmt.Sprint(*r.Child.Address) != fmt.Sprint(*tt.want):
			t.Errorf("%s: %+v, want %+v", tt.name, *r.Child.Address, *tt.want)
		}
	}
}
