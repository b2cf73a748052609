package match

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Field is one compared piece of identifying data.
type Field uint8

// The compared fields. Postcode, address, carer and phone describe the
// household rather than the child and are scored together (see Score).
const (
	FieldGiven Field = iota
	FieldFamily
	FieldBirthDate
	FieldGender
	FieldPostcode
	FieldAddress
	FieldCarer
	FieldPhone
	FieldNHS
	FieldUPN
	NumFields
)

var fieldKeys = [NumFields]string{"given", "family", "birth_date", "gender", "postcode", "address", "carer", "phone", "nhs_number", "upn"}

var fieldNames = [NumFields]string{"given name", "family name", "date of birth", "gender", "postcode", "address first line", "parent/carer name", "parent/carer phone", "NHS number", "UPN"}

// String is the field's name as a steward reads it.
func (f Field) String() string {
	if f < NumFields {
		return fieldNames[f]
	}
	return fmt.Sprintf("field(%d)", uint8(f))
}

// MarshalText gives the field's stable key ("birth_date").
func (f Field) MarshalText() ([]byte, error) {
	if f >= NumFields {
		return nil, fmt.Errorf("match: unknown field %d", uint8(f))
	}
	return []byte(fieldKeys[f]), nil
}

// UnmarshalText reads a key written by MarshalText.
func (f *Field) UnmarshalText(b []byte) error {
	for i, k := range fieldKeys {
		if k == string(b) {
			*f = Field(i)
			return nil
		}
	}
	return fmt.Errorf("match: unknown field %q", b)
}

// Level is a graded agreement between two values of a field. Higher is
// stronger agreement; what each level means depends on the field (see
// levelText). Missing means at least one side holds no usable value and is
// neither for nor against.
type Level uint8

// Agreement levels, weakest first.
const (
	Missing Level = iota
	Disagree
	Weak
	Partial
	Close
	Exact
	NumLevels
)

var levelKeys = [NumLevels]string{"missing", "disagree", "weak", "partial", "close", "exact"}

func (l Level) String() string {
	if l < NumLevels {
		return levelKeys[l]
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// MarshalText gives the level's key ("close").
func (l Level) MarshalText() ([]byte, error) {
	if l >= NumLevels {
		return nil, fmt.Errorf("match: unknown level %d", uint8(l))
	}
	return []byte(levelKeys[l]), nil
}

// UnmarshalText reads a key written by MarshalText.
func (l *Level) UnmarshalText(b []byte) error {
	for i, k := range levelKeys {
		if k == string(b) {
			*l = Level(i)
			return nil
		}
	}
	return fmt.Errorf("match: unknown level %q", b)
}

// fieldLevels are the levels each comparator can return besides Missing;
// estimators fit probabilities only for these.
var fieldLevels = [NumFields][]Level{
	FieldGiven:     {Exact, Close, Partial, Weak, Disagree},
	FieldFamily:    {Exact, Close, Partial, Weak, Disagree},
	FieldBirthDate: {Exact, Close, Partial, Disagree},
	FieldGender:    {Exact, Disagree},
	FieldPostcode:  {Exact, Close, Partial, Disagree},
	FieldAddress:   {Exact, Close, Partial, Disagree},
	FieldCarer:     {Exact, Partial, Disagree},
	FieldPhone:     {Exact, Disagree},
	FieldNHS:       {Exact, Disagree},
	FieldUPN:       {Exact, Disagree},
}

// levelText says what a level means for a field, without naming any value:
// explanations end up in review queues and must not carry personal data.
var levelText = [NumFields][NumLevels]string{
	FieldGiven:     {"missing on one side", "different", "sounds the same", "similar spelling, matches a middle or preferred name, or is the other's family name (names swapped)", "nickname or short form of the same name, or exactly the other's family name (names swapped)", "same"},
	FieldFamily:    {"missing on one side", "different", "sounds the same", "similar spelling, or is the other's given name (names swapped)", "one part of a double-barrelled or previous family name, or exactly the other's given name (names swapped)", "same"},
	FieldBirthDate: {"missing on one side", "different", "", "one digit different or two digits transposed", "day and month swapped", "same"},
	FieldGender:    {"missing or not stated on one side", "different", "", "", "", "same"},
	FieldPostcode:  {"missing on one side", "different area", "", "same postcode district", "same postcode sector", "same full postcode"},
	FieldAddress:   {"missing on one side", "different", "", "same street, the house number one keying slip apart", "nearly the same, or the same lines split differently", "same"},
	FieldCarer:     {"missing on one side", "no parent or carer in common", "", "a parent or carer with the same given name (and the child's own family name)", "", "a parent or carer with the same name"},
	FieldPhone:     {"missing on one side", "no phone number in common", "", "", "", "a phone number in common"},
	FieldNHS:       {"missing on one side", "both present and different", "", "", "", "same"},
	FieldUPN:       {"missing on one side", "both present and different", "", "", "", "same"},
}

// ComparisonVector is the agreement level of every field for one pair of
// records: the input to scoring and to weight estimation.
type ComparisonVector [NumFields]Level

// MarshalJSON writes the vector as an object keyed by field.
func (v ComparisonVector) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, NumFields)
	for f, l := range v {
		m[fieldKeys[f]] = levelKeys[l]
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes; absent fields are Missing.
func (v *ComparisonVector) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*v = ComparisonVector{}
	for k, s := range m {
		var f Field
		var l Level
		if err := f.UnmarshalText([]byte(k)); err != nil {
			return err
		}
		if err := l.UnmarshalText([]byte(s)); err != nil {
			return err
		}
		v[f] = l
	}
	return nil
}

// Similarity cut-offs. 0.92 on Jaro–Winkler accepts a single typo or
// transposition in a name of five or more letters ("Jonathon"/"Jonathan"
// 0.95, "Hughes"/"Hughs" 0.97) but rejects distinct names that share a
// start ("Oliver"/"Olivia" 0.87); addresses get a little more room because
// they are longer.
const (
	nameJW    = 0.92
	addressJW = 0.90
)

// Compare grades every field of a against b. It is symmetric, allocates
// nothing, and is the hot path of linking.
func Compare(a, b *Features) ComparisonVector {
	var v ComparisonVector
	v[FieldGiven] = compareGiven(a, b)
	v[FieldFamily] = compareFamily(a, b)
	// Names keyed into each other's fields ("Quilliam Ashleigh" for
	// "Ashleigh Quilliam") are one of the commonest errors of forms and
	// data entry, and of names whose order differs between cultures. Both
	// names agreeing crosswise is evidence, but weaker than agreeing in
	// place: each counts as a similar spelling.
	// Names swapped exactly both ways count as a nickname and a part of
	// a double-barrelled name do: strong, but still short of agreeing in
	// place.
	if v[FieldGiven] <= Weak && v[FieldFamily] <= Weak && namesSwapped(a, b) {
		v[FieldGiven], v[FieldFamily] = Partial, Partial
		if crossedExactly(a, b) && crossedExactly(b, a) {
			v[FieldGiven], v[FieldFamily] = Close, Close
		}
	}
	v[FieldBirthDate] = compareBirthDate(a, b)
	v[FieldGender] = compareGender(a.Gender, b.Gender)
	v[FieldPostcode] = comparePostcode(a, b)
	v[FieldAddress] = compareAddress(a, b)
	v[FieldCarer] = compareCarers(a, b, v[FieldFamily] >= Partial)
	v[FieldPhone] = comparePhones(a.Phones, b.Phones)
	v[FieldNHS] = compareIdentifier(a.NHS, b.NHS)
	v[FieldUPN] = compareUPN(a, b)
	return v
}

func compareGiven(a, b *Features) Level {
	if a.Given == "" || b.Given == "" {
		return Missing
	}
	if a.Given == b.Given {
		return Exact
	}
	// A space keyed inside a name ("Davi D" for "David", "Mary Jane" for
	// "Maryjane") is a slip of the keyboard, not another name.
	if joinedGiven(a) == b.Given || joinedGiven(b) == a.Given {
		return Exact
	}
	if a.GivenGroups.intersects(b.GivenGroups) {
		return Close
	}
	if JaroWinkler(a.Given, b.Given) >= nameJW || oneEdit(a.Given, b.Given) {
		return Partial
	}
	// The child may go by a middle or preferred name in one system.
	if contains(b.GivenOther, a.Given) || contains(a.GivenOther, b.Given) ||
		a.GivenGroups.intersects(b.OtherGroups) || b.GivenGroups.intersects(a.OtherGroups) {
		return Partial
	}
	if a.GivenCode != "" && a.GivenCode == b.GivenCode {
		return Weak
	}
	return Disagree
}

// namesSwapped reports two records whose given and family names agree
// crosswise, each way: a's given name is b's family name and b's given
// name is a's family name.
func namesSwapped(a, b *Features) bool {
	return crossedName(a, b) && crossedName(b, a)
}

// crossedName reports x's given name (or, exactly, another of its given
// names or their joined form: "Jean Claude" for "Jean-Claude") standing as
// y's family name, or one keying slip from it.
func crossedName(x, y *Features) bool {
	if x.Given == "" || y.Family == "" {
		return false
	}
	if contains(y.FamilyKeys, x.Given) || contains(x.GivenOther, y.Family) {
		return true
	}
	return JaroWinkler(x.Given, y.Family) >= nameJW || oneEdit(x.Given, y.Family)
}

// crossedExactly reports x's whole given name (or its parts joined:
// "Jean Claude" for "Jean-Claude") standing exactly as y's whole family
// name.
func crossedExactly(x, y *Features) bool {
	return x.Given != "" && y.Family != "" && (y.Family == x.Given || y.Family == joinedGiven(x))
}

// joinedGiven is the given name with the parts a space split it into
// joined ("david" for "Davi D"), or "" when the name is one word. setGiven
// puts the further parts first in GivenOther, then their joined form.
func joinedGiven(f *Features) string {
	if f.Given == "" {
		return ""
	}
	rest := 0
	for i, o := range f.GivenOther {
		if i > 0 && len(o) == len(f.Given)+rest && o[:len(f.Given)] == f.Given && joinsTo(o[len(f.Given):], f.GivenOther[:i]) {
			return o
		}
		rest += len(o)
	}
	return ""
}

// joinsTo reports whether s is parts concatenated in order.
func joinsTo(s string, parts []string) bool {
	for _, p := range parts {
		if len(p) > len(s) || s[:len(p)] != p {
			return false
		}
		s = s[len(p):]
	}
	return s == ""
}

// givenViaOtherName reports a given name that agrees only through the
// other's middle or preferred name (or a nickname of one), which is how
// twins named "Grace Amelia" and "Amelia" look.
func givenViaOtherName(a, b *Features) bool {
	return contains(b.GivenOther, a.Given) || contains(a.GivenOther, b.Given) ||
		a.GivenGroups.intersects(b.OtherGroups) || b.GivenGroups.intersects(a.OtherGroups)
}

func compareFamily(a, b *Features) Level {
	if a.Family == "" || b.Family == "" {
		return Missing
	}
	if a.Family == b.Family {
		return Exact
	}
	for _, x := range a.FamilyKeys {
		if contains(b.FamilyKeys, x) {
			return Close
		}
	}
	if JaroWinkler(a.Family, b.Family) >= nameJW || oneEdit(a.Family, b.Family) {
		return Partial
	}
	if a.FamilyCode != "" && a.FamilyCode == b.FamilyCode {
		return Weak
	}
	return Disagree
}

func compareBirthDate(a, b *Features) Level {
	if a.BirthDate == "" || b.BirthDate == "" {
		return Missing
	}
	if a.BirthDate == b.BirthDate {
		return Exact
	}
	if a.Year == b.Year && a.Day == b.Month && a.Month == b.Day {
		return Close
	}
	if oneDigitOff(a.BirthDate, b.BirthDate) {
		return Partial
	}
	return Disagree
}

// oneDigitOff reports one mistyped digit, or two adjacent digits typed in
// the wrong order, between two YYYYMMDD dates.
func oneDigitOff(x, y string) bool {
	if len(x) != 8 || len(y) != 8 {
		return false
	}
	first, diffs := -1, 0
	for i := 0; i < 8; i++ {
		if x[i] != y[i] {
			if first < 0 {
				first = i
			}
			diffs++
		}
	}
	switch diffs {
	case 1:
		return true
	case 2:
		i := first
		return i+1 < 8 && x[i] == y[i+1] && x[i+1] == y[i]
	}
	return false
}

func compareGender(a, b byte) Level {
	if a == 0 || b == 0 {
		return Missing
	}
	if a == b {
		return Exact
	}
	return Disagree
}

func comparePostcode(a, b *Features) Level {
	switch {
	case a.Postcode == "" || b.Postcode == "":
		return Missing
	case a.Postcode == b.Postcode:
		return Exact
	case a.Sector != "" && a.Sector == b.Sector:
		return Close
	case a.District != "" && a.District == b.District:
		return Partial
	}
	return Disagree
}

// compareAddress never calls "14 Elm Gr" and "41 Elm Gr" close: the house
// number must agree (or one side lacks the flat number) and only the street
// may vary in spelling. A number one keying slip from the other's on the
// same street ("65" for "56", "2" for "26") is Partial: weak evidence, as
// neighbours' numbers are alike too. A side with no street, a bare number
// or none, is no address to compare: Missing, neither for nor against.
// Lines split differently ("Rose Court" / "12 High St" against "12 High
// St" / "Rose Court") agree through the second line's street.
func compareAddress(a, b *Features) Level {
	if a.AddressStreet == "" || b.AddressStreet == "" {
		return Missing
	}
	if a.AddressLine == b.AddressLine {
		return Exact
	}
	sameNumber := a.AddressNumber == b.AddressNumber ||
		(a.AddressNumber != "" && b.AddressNumber != "" &&
			(hasSuffixToken(a.AddressNumber, b.AddressNumber) || hasSuffixToken(b.AddressNumber, a.AddressNumber)))
	if sameNumber && streetsAlike(a.AddressStreet, b.AddressStreet) {
		return Close
	}
	if (a.AddressOther != "" || b.AddressOther != "") && sharesNumber(a.AddressNumber, b.AddressNumber) &&
		((a.AddressOther != "" && streetsAlike(a.AddressOther, b.AddressStreet)) ||
			(b.AddressOther != "" && streetsAlike(a.AddressStreet, b.AddressOther))) {
		return Close
	}
	if numberSlip(a.AddressNumber, b.AddressNumber) && streetsAlike(a.AddressStreet, b.AddressStreet) {
		return Partial
	}
	return Disagree
}

func streetsAlike(a, b string) bool { return a == b || JaroWinkler(a, b) >= addressJW }

// sharesNumber reports two house numbers with a token in common ("9" and
// "9 24"); both must hold one.
func sharesNumber(a, b string) bool {
	for a != "" {
		var x string
		x, a, _ = strings.Cut(a, " ")
		for rest := b; rest != ""; {
			var y string
			y, rest, _ = strings.Cut(rest, " ")
			if x != "" && x == y {
				return true
			}
		}
	}
	return false
}

// numberSlip reports two house numbers one keying slip apart: a digit
// changed, dropped or added, or two adjacent digits swapped. Two different
// one-digit numbers are neighbours, not a slip.
func numberSlip(a, b string) bool {
	if a == "" || b == "" || a == b || (len(a) == 1 && len(b) == 1) {
		return false
	}
	return oneSlip(a, b)
}

// oneSlip is oneEdit for strings of any length.
func oneSlip(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	switch len(b) - len(a) {
	case 0:
		if i == len(a) {
			return false
		}
		if a[i+1:] == b[i+1:] {
			return true
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	case 1:
		return a[i:] == b[i+1:]
	}
	return false
}

// hasSuffixToken reports whether short is the trailing token of long
// ("2 14" ends with "14": a flat number present on one side only).
func hasSuffixToken(long, short string) bool {
	return len(long) > len(short) && long[len(long)-len(short):] == short && long[len(long)-len(short)-1] == ' '
}

// compareCarers grades the parents and carers the two records name. A
// carer's family name that is the child's own is not counted again: the
// family name comparison has already weighed it, and "Sarah Hughes, mother
// of a Hughes" says little more than "Sarah, mother of a Hughes". It counts
// in full only when the children's family names differ (a change of name),
// where the carer's unchanged name is fresh evidence.
func compareCarers(fa, fb *Features, familyAgrees bool) Level {
	a, b := fa.Carers, fb.Carers
	if len(a) == 0 || len(b) == 0 {
		return Missing
	}
	best := Disagree
	for i := range a {
		for j := range b {
			x, y := &a[i], &b[j]
			if x.Given == "" || y.Given == "" {
				continue
			}
			given := x.Given == y.Given || x.Groups.intersects(y.Groups)
			if !given {
				continue
			}
			if x.Family != "" && (x.Family == y.Family || JaroWinkler(x.Family, y.Family) >= nameJW) {
				if familyAgrees && (contains(fa.FamilyKeys, x.Family) || contains(fb.FamilyKeys, y.Family)) {
					best = Partial
					continue
				}
				return Exact
			}
			best = Partial
		}
	}
	return best
}

func comparePhones(a, b []string) Level {
	if len(a) == 0 || len(b) == 0 {
		return Missing
	}
	for _, p := range a {
		if contains(b, p) {
			return Exact
		}
	}
	return Disagree
}

func compareIdentifier(a, b string) Level {
	switch {
	case a == "" || b == "":
		return Missing
	case a == b:
		return Exact
	}
	return Disagree
}

// compareUPN treats differing temporary UPNs as no evidence: a pupil gets a
// new temporary UPN at each school until the permanent one is known.
func compareUPN(a, b *Features) Level {
	l := compareIdentifier(a.UPN, b.UPN)
	if l == Disagree && (a.UPNTemporary || b.UPNTemporary) {
		return Missing
	}
	return l
}

// oneEdit reports whether two names of four or more letters differ by one
// keying slip: a letter changed, dropped, added, or two adjacent letters
// swapped. Jaro–Winkler under-rates a slip in a short name ("Baker" and
// "Bamer" score 0.89), the commonest typing error of all.
func oneEdit(a, b string) bool {
	if len(a) < 4 || len(b) < 4 || a == b {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	switch len(b) - len(a) {
	case 0:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		if a[i+1:] == b[i+1:] {
			return true // one letter changed
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:] // adjacent swap
	case 1:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		return a[i:] == b[i+1:] // one letter added
	}
	return false
}
