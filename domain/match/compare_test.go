package match

import (
	"encoding/json"
	"testing"

	"contactpoint/domain/record"
)

func TestCompareGiven(t *testing.T) {
	tests := []struct {
		name string
		a, b record.Name
		want Level
	}{
		{"exact", record.Name{Given: "Olivia"}, record.Name{Given: "OLIVIA "}, Exact},
		{"diacritics", record.Name{Given: "Zoë"}, record.Name{Given: "Zoe"}, Exact},
		{"nickname", record.Name{Given: "Elizabeth"}, record.Name{Given: "Lizzie"}, Close},
		{"short form", record.Name{Given: "Livvy"}, record.Name{Given: "Olivia"}, Close},
		{"typo", record.Name{Given: "Jonathon"}, record.Name{Given: "Jonathen"}, Partial},
		{"middle name used", record.Name{Given: "Olivia", Middle: "Grace"}, record.Name{Given: "Grace"}, Partial},
		{"preferred name", record.Name{Given: "Mohammed", Preferred: "Zain"}, record.Name{Given: "Zain"}, Partial},
		// A space keyed inside a given name is a slip, not another name.
		{"double given name", record.Name{Given: "Mary Jane"}, record.Name{Given: "Maryjane"}, Exact},
		{"space keyed inside", record.Name{Given: "Davi D"}, record.Name{Given: "David"}, Exact},
		{"three parts", record.Name{Given: "Anna Mari E"}, record.Name{Given: "Annamarie"}, Exact},
		{"a part is not the whole", record.Name{Given: "Anna Marie"}, record.Name{Given: "Annamari"}, Disagree},
		{"sounds the same", record.Name{Given: "Jack"}, record.Name{Given: "Jake"}, Weak},
		{"different", record.Name{Given: "Oliver"}, record.Name{Given: "Olivia"}, Disagree},
		{"different", record.Name{Given: "Harry"}, record.Name{Given: "Sophie"}, Disagree},
		{"missing", record.Name{Given: "Harry"}, record.Name{}, Missing},
		{"placeholder is missing", record.Name{Given: "Baby"}, record.Name{Given: "Olivia"}, Missing},
		{"twin placeholder is missing", record.Name{Given: "Twin 2"}, record.Name{Given: "Twin 1"}, Missing},
	}
	for _, tt := range tests {
		a, b := FeaturesOf(&record.Child{Name: tt.a}), FeaturesOf(&record.Child{Name: tt.b})
		if got := compareGiven(&a, &b); got != tt.want {
			t.Errorf("%s: given %+v vs %+v = %v, want %v", tt.name, tt.a, tt.b, got, tt.want)
		}
		if got := compareGiven(&b, &a); got != tt.want {
			t.Errorf("%s: not symmetric", tt.name)
		}
	}
}

func TestCompareFamily(t *testing.T) {
	tests := []struct {
		name     string
		a, b     string
		previous string
		want     Level
	}{
		{"exact", "Hughes", "HUGHES", "", Exact},
		{"apostrophe", "O'Brien", "OBrien", "", Exact},
		{"curly apostrophe", "O’Brien", "O'Brien", "", Exact},
		{"hyphen or space", "Smith-Jones", "Smith Jones", "", Exact},
		{"diacritics", "Brontë", "Bronte", "", Exact},
		{"double-barrelled first part", "Smith-Jones", "Smith", "", Close},
		{"double-barrelled second part", "Smith-Jones", "Jones", "", Close},
		{"shared part", "Smith-Jones", "Jones-Brown", "", Close},
		{"particle alone is not a part", "De La Cruz", "De", "", Disagree},
		{"previous name", "Patel", "Hughes", "Hughes", Close},
		{"typo", "Hughes", "Hughs", "", Partial},
		{"sounds the same", "Reid", "Reade", "", Weak},
		{"different", "Hughes", "Patel", "", Disagree},
		{"missing", "Hughes", "", "", Missing},
	}
	for _, tt := range tests {
		ca := &record.Child{Name: record.Name{Family: tt.a}}
		if tt.previous != "" {
			ca.PreviousNames = []record.Name{{Family: tt.previous}}
		}
		a, b := FeaturesOf(ca), FeaturesOf(&record.Child{Name: record.Name{Family: tt.b}})
		if got := compareFamily(&a, &b); got != tt.want {
			t.Errorf("%s: family %q vs %q = %v, want %v", tt.name, tt.a, tt.b, got, tt.want)
		}
		if got := compareFamily(&b, &a); got != tt.want {
			t.Errorf("%s: not symmetric", tt.name)
		}
	}
}

func TestCompareBirthDate(t *testing.T) {
	tests := []struct {
		name, a, b string
		want       Level
	}{
		{"exact", "2015-03-14", "2015-03-14", Exact},
		{"UK format", "2015-03-14", "14/03/2015", Exact},
		{"day and month swapped", "2015-03-04", "2015-04-03", Close},
		{"one digit off in day", "2015-03-14", "2015-03-15", Partial},
		{"one digit off in year", "2015-03-14", "2016-03-14", Partial},
		{"one digit off in month", "2015-03-14", "2015-08-14", Partial},
		{"adjacent digits transposed", "2015-03-12", "2015-03-21", Partial},
		{"different", "2015-03-14", "2012-07-30", Disagree},
		{"two digits off", "2015-03-14", "2016-03-15", Disagree},
		{"missing", "2015-03-14", "", Missing},
		{"not a date", "2015-03-14", "2015-13-45", Missing},
	}
	for _, tt := range tests {
		a, b := feat(bare("", "", tt.a)), feat(bare("", "", tt.b))
		if got := compareBirthDate(a, b); got != tt.want {
			t.Errorf("%s: %s vs %s = %v, want %v", tt.name, tt.a, tt.b, got, tt.want)
		}
		if got := compareBirthDate(b, a); got != tt.want {
			t.Errorf("%s: not symmetric", tt.name)
		}
	}
}

func TestCompareGender(t *testing.T) {
	tests := []struct {
		a, b string
		want Level
	}{
		{"female", "female", Exact},
		{"female", "male", Disagree},
		{"female", "unknown", Missing},
		{"other", "female", Missing},
		{"", "male", Missing},
	}
	for _, tt := range tests {
		a := FeaturesOf(&record.Child{Gender: tt.a})
		b := FeaturesOf(&record.Child{Gender: tt.b})
		if got := compareGender(a.Gender, b.Gender); got != tt.want {
			t.Errorf("gender %q vs %q = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestComparePostcode(t *testing.T) {
	tests := []struct {
		a, b string
		want Level
	}{
		{"LS6 2AB", "ls62ab", Exact},
		{"LS6 2AB", "LS6 2XY", Close},
		{"LS6 2AB", "LS6 4QT", Partial},
		{"LS6 2AB", "LS16 2AB", Disagree},
		{"LS6 2AB", "M1 1AE", Disagree},
		{"LS6 2AB", "", Missing},
	}
	for _, tt := range tests {
		a := FeaturesOf(&record.Child{Address: &record.Address{Postcode: tt.a}})
		b := FeaturesOf(&record.Child{Address: &record.Address{Postcode: tt.b}})
		if got := comparePostcode(&a, &b); got != tt.want {
			t.Errorf("postcode %q vs %q = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCompareAddress(t *testing.T) {
	tests := []struct {
		a, b []string
		want Level
	}{
		{[]string{"14 Elm Grove"}, []string{"14, ELM GROVE"}, Exact},
		{[]string{"14 Elm Grove"}, []string{"14 Elm Gr."}, Exact},
		{[]string{"14 Elm Grove"}, []string{"14 Elmm Grove"}, Close},
		{[]string{"Flat 2", "14 Elm Grove"}, []string{"14 Elm Grove"}, Close},
		// A house number one keying slip away on the same street is weak
		// evidence, never "nearly the same"; two one-digit numbers are
		// neighbours.
		{[]string{"14 Elm Grove"}, []string{"41 Elm Grove"}, Partial},
		{[]string{"65 Hallen Close"}, []string{"56 Hallen Close"}, Partial},
		{[]string{"2 Oxley Street"}, []string{"26 Oxley Street"}, Partial},
		{[]string{"14 Elm Grove"}, []string{"19 Elm Grove"}, Partial},
		{[]string{"3 Elm Grove"}, []string{"4 Elm Grove"}, Disagree},
		{[]string{"14 Elm Grove"}, []string{"71 Elm Grove"}, Disagree},
		{[]string{"14 Elm Grove"}, []string{"41 Oak Road"}, Disagree},
		{[]string{"14 Elm Grove"}, []string{"3 Church Lane"}, Disagree},
		{[]string{"14 Elm Grove"}, nil, Missing},
		// A bare number is no address: neither for nor against.
		{[]string{"17"}, []string{"17 Lyall Crescent"}, Missing},
		{[]string{"15"}, []string{"15"}, Missing},
		// Lines split the other way round.
		{[]string{"27 Jarrah", "Mackinnon Street"}, []string{"27 Mackinnon Street", "Jarrah"}, Close},
		{[]string{"9 Locn 24", "Dookie Street"}, []string{"9 Dookie Street", "Locn24"}, Close},
		{[]string{"Rose Court", "12 High Street"}, []string{"12 High Street"}, Close},
		{[]string{"27 Jarrah", "Mackinnon Street"}, []string{"31 Mackinnon Street", "Jarrah"}, Disagree},
	}
	for _, tt := range tests {
		a := FeaturesOf(&record.Child{Address: &record.Address{Lines: tt.a}})
		b := FeaturesOf(&record.Child{Address: &record.Address{Lines: tt.b}})
		if got := compareAddress(&a, &b); got != tt.want {
			t.Errorf("address %q vs %q = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := compareAddress(&b, &a); got != tt.want {
			t.Errorf("address %q vs %q not symmetric", tt.a, tt.b)
		}
	}
}

func TestCompareCarersAndPhones(t *testing.T) {
	mum := record.Contact{Relationship: "mother", Name: record.Name{Given: "Sarah", Family: "Hughes"}, Phone: "07700 900123"}
	tests := []struct {
		name         string
		a, b         []record.Contact
		carer, phone Level
		// childFamily, when set, is both children's family name.
		childFamily string
	}{
		{"same carer, phone in another format", []record.Contact{mum},
			[]record.Contact{{Name: record.Name{Given: "Sally", Family: "Hughes"}, Phone: "+44 7700 900123"}}, Exact, Exact, ""},
		{"carer remarried, new phone", []record.Contact{mum},
			[]record.Contact{{Name: record.Name{Given: "Sarah", Family: "Patel"}, Phone: "07700 900999"}}, Partial, Disagree, ""},
		{"any overlap counts", []record.Contact{mum},
			[]record.Contact{{Name: record.Name{Given: "Tom", Family: "Reid"}}, {Name: record.Name{Given: "Sarah", Family: "Hughes"}}}, Exact, Missing, ""},
		{"nobody in common", []record.Contact{mum},
			[]record.Contact{{Name: record.Name{Given: "Tom", Family: "Reid"}, Phone: "0113 496 0000"}}, Disagree, Disagree, ""},
		{"none on one side", []record.Contact{mum}, nil, Missing, Missing, ""},
		// The carer's family name is the child's: the family name field has
		// counted it already, so only the given name is new evidence.
		{"carer shares the child's family name", []record.Contact{mum},
			[]record.Contact{{Name: record.Name{Given: "Sarah", Family: "Hughes"}}}, Partial, Missing, "Hughes"},
		{"carer's family name differs from the child's", []record.Contact{mum},
			[]record.Contact{{Name: record.Name{Given: "Sarah", Family: "Hughes"}}}, Exact, Missing, "Patel"},
	}
	for _, tt := range tests {
		a := FeaturesOf(&record.Child{Contacts: tt.a, Name: record.Name{Family: tt.childFamily}})
		b := FeaturesOf(&record.Child{Contacts: tt.b, Name: record.Name{Family: tt.childFamily}})
		if got := Compare(&a, &b)[FieldCarer]; got != tt.carer {
			t.Errorf("%s: carer = %v, want %v", tt.name, got, tt.carer)
		}
		if got := comparePhones(a.Phones, b.Phones); got != tt.phone {
			t.Errorf("%s: phone = %v, want %v", tt.name, got, tt.phone)
		}
	}
}

func TestCompareIdentifiers(t *testing.T) {
	ids := func(nhs, upn string) *record.Child {
		return &record.Child{Identifiers: &record.Identifiers{NHSNumber: nhs, UPN: upn}}
	}
	tests := []struct {
		name     string
		a, b     *record.Child
		nhs, upn Level
	}{
		{"same NHS, spacing differs", ids("943 476 5919", ""), ids("9434765919", ""), Exact, Missing},
		{"different valid NHS", ids("9434765919", ""), ids("4010232137", ""), Disagree, Missing},
		{"invalid NHS is not evidence", ids("9434765918", ""), ids("9434765919", ""), Missing, Missing},
		{"same UPN", ids("", "T821200714001"), ids("", "t821200714001"), Missing, Exact},
		{"different permanent UPNs", ids("", "T821200714001"), ids("", upnWithLast("82120071400", '2')), Missing, Disagree},
		{"temporary UPN differs", ids("", "T821200714001"), ids("", upnWithLast("82120071400", 'A')), Missing, Missing},
	}
	for _, tt := range tests {
		a, b := FeaturesOf(tt.a), FeaturesOf(tt.b)
		v := Compare(&a, &b)
		if v[FieldNHS] != tt.nhs || v[FieldUPN] != tt.upn {
			t.Errorf("%s: nhs %v upn %v, want %v %v", tt.name, v[FieldNHS], v[FieldUPN], tt.nhs, tt.upn)
		}
	}
}

// upnWithLast builds a valid UPN from 11 digits and a final character.
func upnWithLast(digits string, last byte) string {
	body := digits + string(last)
	c, ok := upnCheck(body)
	if !ok {
		panic("bad UPN body " + body)
	}
	return string(c) + body
}

func TestComparisonVectorJSON(t *testing.T) {
	v := Compare(feat(olivia()), feat(with(olivia(), func(c *record.Child) { c.BirthDate = "2015-14-03" })))
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back ComparisonVector
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != v {
		t.Fatalf("round trip %s gave %v, want %v", b, back, v)
	}
}

func TestOneEdit(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"baker", "bamer", true},  // changed
		{"baker", "bakr", true},   // dropped
		{"baker", "bakker", true}, // doubled
		{"baker", "abker", true},  // adjacent swap
		{"baker", "bakre", true},  // adjacent swap at the end
		{"baker", "baker", false},
		{"baker", "bamen", false}, // two changes
		{"lee", "lea", false},     // too short to tell a slip from another name
		{"smith", "smythe", false},
	}
	for _, tt := range tests {
		if got := oneEdit(tt.a, tt.b); got != tt.want {
			t.Errorf("oneEdit(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := oneEdit(tt.b, tt.a); got != tt.want {
			t.Errorf("oneEdit(%q, %q) = %v, want %v (not symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestCompareSwappedNames(t *testing.T) {
	tests := []struct {
		name          string
		a, b          record.Name
		given, family Level
	}{
		// Exactly both ways: as strong as a nickname and a part of a
		// double-barrelled name; with a slip, as a similar spelling.
		{"swapped", record.Name{Given: "Ashleigh", Family: "Quilliam"}, record.Name{Given: "Quilliam", Family: "Ashleigh"}, Close, Close},
		{"swapped with a slip", record.Name{Given: "Emily", Family: "Beams"}, record.Name{Given: "Beams", Family: "Emiily"}, Partial, Partial},
		{"swapped, hyphenated given name", record.Name{Given: "Jean-Claude", Family: "White"}, record.Name{Given: "White", Family: "Jean-Claude"}, Close, Close},
		{"swapped, one part of a double-barrelled family name", record.Name{Given: "Luke", Family: "Vincent-Hall"}, record.Name{Given: "Vincent", Family: "Luke"}, Partial, Partial},
		// One name crosswise is not a swap: a sibling's given name may be
		// another family's surname.
		{"only one crosswise", record.Name{Given: "Harry", Family: "Thomas"}, record.Name{Given: "Thomas", Family: "Jones"}, Disagree, Disagree},
		{"in place wins", record.Name{Given: "Thomas", Family: "Thomas"}, record.Name{Given: "Thomas", Family: "Thomas"}, Exact, Exact},
		{"in place, family only", record.Name{Given: "Harry", Family: "Hughes"}, record.Name{Given: "Sophie", Family: "Hughes"}, Disagree, Exact},
		{"given missing", record.Name{Family: "Quilliam"}, record.Name{Given: "Quilliam", Family: "Ashleigh"}, Missing, Disagree},
		{"different", record.Name{Given: "Harry", Family: "Hughes"}, record.Name{Given: "Sophie", Family: "Patel"}, Disagree, Disagree},
	}
	for _, tt := range tests {
		a, b := FeaturesOf(&record.Child{Name: tt.a}), FeaturesOf(&record.Child{Name: tt.b})
		for _, v := range []ComparisonVector{Compare(&a, &b), Compare(&b, &a)} {
			if v[FieldGiven] != tt.given || v[FieldFamily] != tt.family {
				t.Errorf("%s: given %v, family %v; want %v, %v", tt.name, v[FieldGiven], v[FieldFamily], tt.given, tt.family)
			}
		}
	}
}

// TestCompareAllocatesNothing: Compare is the hot path of linking, and the
// address and name rules it takes on the way (lines split the other way
// round, a house number slip, names swapped, a space inside a given name)
// allocate nothing.
func TestCompareAllocatesNothing(t *testing.T) {
	pairs := [][2]*record.Child{
		{{Name: record.Name{Given: "Davi D", Family: "Hughes"}, Address: &record.Address{Lines: []string{"9 Locn 24", "Dookie Street"}}},
			{Name: record.Name{Given: "David", Family: "Hughes"}, Address: &record.Address{Lines: []string{"9 Dookie Street", "Locn24"}}}},
		{{Name: record.Name{Given: "Quilliam", Family: "Ashleigh"}, Address: &record.Address{Lines: []string{"65 Hallen Close"}}},
			{Name: record.Name{Given: "Ashleigh", Family: "Quilliam"}, Address: &record.Address{Lines: []string{"56 Hallen Close"}}}},
		{{Name: record.Name{Given: "Olivia", Family: "Hughes"}, Address: &record.Address{Lines: []string{"Rose Court", "12 High Street"}}},
			{Name: record.Name{Given: "Harry", Family: "Patel"}, Address: &record.Address{Lines: []string{"3 Church Lane", "Flat 2 4 Elm Grove"}}}},
	}
	for i, p := range pairs {
		a, b := FeaturesOf(p[0]), FeaturesOf(p[1])
		if n := testing.AllocsPerRun(100, func() { Compare(&a, &b) }); n != 0 {
			t.Errorf("pair %d: Compare allocates %.0f times", i, n)
		}
	}
}
