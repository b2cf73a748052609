package match

import (
	"reflect"
	"testing"

	"contactpoint/domain/record"
)

// packCases are records that between them fill every field of Features.
func packCases() []*record.Child {
	return []*record.Child{
		olivia(),
		with(olivia(), func(c *record.Child) {
			c.Name = record.Name{Given: "Mary Jane", Middle: "Beth", Family: "Smith-Jones", Preferred: "Molly"}
			c.PreviousNames = []record.Name{{Given: "Mary", Family: "O'Brien"}}
			c.Identifiers = &record.Identifiers{NHSNumber: nhsA, UPN: "T821200714001"}
			c.Gender = "male"
			c.BirthDate = "2012-11-03"
			c.Contacts = append(c.Contacts, record.Contact{Relationship: "father", Name: record.Name{Given: "Bill", Family: "Jones"}, Phone: "0113 496 0000"})
		}),
		with(olivia(), func(c *record.Child) {
			c.Identifiers = &record.Identifiers{UPN: upnWithLast("82120071400", 'A')}
			c.Address = nil
			c.Contacts = nil
		}),
		bare("Zoë", "de la Cruz", "not a date"),
		bare("", "", ""),
	}
}

// sameFeatures compares two Features, an empty slice equal to a nil one.
func sameFeatures(a, b Features) bool {
	norm := func(f *Features) {
		for _, s := range []*[]string{&f.GivenOther, &f.GivenRoots, &f.RootCodes, &f.FamilyKeys, &f.FamilyCodes, &f.Phones} {
			if len(*s) == 0 {
				*s = nil
			}
		}
		if len(f.Carers) == 0 {
			f.Carers = nil
		}
	}
	norm(&a)
	norm(&b)
	return reflect.DeepEqual(a, b)
}

func TestPackRoundTrip(t *testing.T) {
	cases := packCases()
	// One Features reused for every unpack, as the linker does: nothing of
	// an earlier record may survive into a later one.
	var into Features
	for i, c := range cases {
		f := FeaturesOf(c)
		if err := into.Unpack(f.Pack()); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !sameFeatures(f, into) {
			t.Fatalf("case %d: unpacked\n%+v\nwant\n%+v", i, into, f)
		}
		if into.Pack() != f.Pack() {
			t.Fatalf("case %d: packing the unpacked features differs", i)
		}
	}
}

func TestPackedFeaturesDecideTheSame(t *testing.T) {
	w, th := DefaultWeights(), DefaultThresholds()
	cases := packCases()
	for i, a := range cases {
		for j, b := range cases {
			fa, fb := FeaturesOf(a), FeaturesOf(b)
			var ua, ub Features
			if err := ua.Unpack(fa.Pack()); err != nil {
				t.Fatal(err)
			}
			if err := ub.Unpack(fb.Pack()); err != nil {
				t.Fatal(err)
			}
			if got, want := Decide(ua, ub, w, th), Decide(fa, fb, w, th); !reflect.DeepEqual(got, want) {
				t.Fatalf("cases %d, %d: unpacked %+v, original %+v", i, j, got, want)
			}
		}
	}
}

func TestUnpackRefusesWhatPackDidNotWrite(t *testing.T) {
	fe := FeaturesOf(packCases()[1])
	full := fe.Pack()
	for _, s := range []string{"", "\x05ab", full[:len(full)-1], full + "x", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		var f Features
		if err := f.Unpack(s); err != ErrPacked {
			t.Errorf("Unpack(%q) = %v, want ErrPacked", s, err)
		}
	}
}

func FuzzUnpack(f *testing.F) {
	for _, c := range packCases() {
		fe := FeaturesOf(c)
		f.Add(fe.Pack())
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fe Features
		if err := fe.Unpack(s); err != nil {
			return
		}
		if fe.Pack() != s {
			// Varints have more than one spelling; what matters is that the
			// features read back are the ones packed.
			var again Features
			if err := again.Unpack(fe.Pack()); err != nil || !sameFeatures(fe, again) {
				t.Fatalf("unpacked features do not survive packing: %v", err)
			}
		}
	})
}
