package match

import (
	"strings"

	"contactpoint/domain/ident"
	"contactpoint/domain/record"
)

// Features are the normalised, precomputed forms of one source record's
// identifying data: everything Compare and BlockingKeys look at, and nothing
// else. They are derived data: recompute them from the record (FeaturesOf is
// cheap) rather than storing them, since the nickname table and normalisers
// may change between versions.
type Features struct {
	// Given is the first given name, normalised ("mary" for "Mary Jane").
	Given string `json:"given,omitempty"`
	// GivenOther holds the other names the child may go by: further given
	// names, middle names, the preferred name, and a multi-part given name
	// joined ("maryjane").
	GivenOther []string `json:"given_other,omitempty"`
	// GivenGroups are the nickname groups of Given; OtherGroups those of GivenOther.
	GivenGroups NameGroups `json:"given_groups"`
	OtherGroups NameGroups `json:"other_groups"`
	// GivenRoots are the roots of Given's nickname groups (Given itself when
	// in none): "elizabeth" for "liz". Used for blocking.
	GivenRoots []string `json:"given_roots,omitempty"`
	// GivenCode and RootCodes are NYSIIS codes of Given and of GivenRoots.
	GivenCode string   `json:"given_code,omitempty"`
	RootCodes []string `json:"root_codes,omitempty"`

	// Family is the family name with its parts joined ("smithjones").
	Family string `json:"family,omitempty"`
	// FamilyKeys are the whole family name, each part of a double-barrelled
	// one, and the previous family names, all joined: any shared key is
	// evidence of the same family name in another form.
	FamilyKeys []string `json:"family_keys,omitempty"`
	// FamilyCode is the NYSIIS code of Family; FamilyCodes those of the
	// whole name and each part, for blocking.
	FamilyCode  string   `json:"family_code,omitempty"`
	FamilyCodes []string `json:"family_codes,omitempty"`

	// BirthDate is YYYYMMDD; Year, Month, Day its parts. Empty and zero when
	// the date is missing or not a date.
	BirthDate string `json:"birth_date,omitempty"`
	Year      int    `json:"year,omitempty"`
	Month     int    `json:"month,omitempty"`
	Day       int    `json:"day,omitempty"`

	// Gender is 'f', 'm' or 0 when unknown, other or not stated.
	Gender byte `json:"gender,omitempty"`

	// Postcode ("LS6 2AB"), Sector ("LS6 2") and District ("LS6").
	Postcode string `json:"postcode,omitempty"`
	Sector   string `json:"sector,omitempty"`
	District string `json:"district,omitempty"`
	// AddressLine is the normalised first line; AddressNumber its house or
	// flat numbers and AddressStreet the rest.
	AddressLine   string `json:"address_line,omitempty"`
	AddressNumber string `json:"address_number,omitempty"`
	AddressStreet string `json:"address_street,omitempty"`
	// AddressOther is the street of the second line when the first has a
	// street of its own: agencies split a building and a street across
	// the lines in either order. A first line with no number takes the
	// second's ("Rose Court" / "12 High Street").
	AddressOther string `json:"address_other,omitempty"`

	// Carers are the parents' and carers' names; Phones their numbers.
	Carers []CarerName `json:"carers,omitempty"`
	Phones []string    `json:"phones,omitempty"`

	// NHS is set only for a number that passes its check digit: an invalid
	// number is a keying error, not evidence.
	NHS string `json:"nhs,omitempty"`
	// UPN likewise; UPNTemporary marks a temporary UPN (final letter), which
	// a child may hold several of.
	UPN          string `json:"upn,omitempty"`
	UPNTemporary bool   `json:"upn_temporary,omitempty"`
}

// CarerName is a parent's or carer's name, normalised.
type CarerName struct {
	Given  string     `json:"given,omitempty"`
	Groups NameGroups `json:"groups"`
	Family string     `json:"family,omitempty"`
}

// familyParticles are the small words of names such as "de la Cruz" or "van
// der Berg"; alone they say nothing about a family.
var familyParticles = map[string]bool{
	"de": true, "la": true, "le": true, "du": true, "da": true, "di": true, "del": true, "della": true,
	"van": true, "der": true, "den": true, "von": true, "al": true, "el": true, "bin": true, "ibn": true,
	"st": true, "y": true, "e": true,
}

// FeaturesOf computes the features of a child as one source states it.
func FeaturesOf(c *record.Child) Features {
	var f Features
	if c == nil {
		return f
	}
	f.setGiven(c.Name)
	f.setFamily(c.Name.Family, c.PreviousNames)
	f.setBirthDate(c.BirthDate)
	switch strings.ToLower(strings.TrimSpace(c.Gender)) {
	case "female", "f", "girl":
		f.Gender = 'f'
	case "male", "m", "boy":
		f.Gender = 'm'
	}
	if a := c.Address; a != nil {
		f.Postcode, f.Sector, f.District = NormalisePostcode(a.Postcode)
		f.setAddressLine(a.Lines)
	}
	for i := range c.Contacts {
		ct := &c.Contacts[i]
		cn := CarerName{Family: joinTokens(NormaliseName(ct.Name.Family))}
		if g := strings.Fields(NormaliseName(ct.Name.Given)); len(g) > 0 {
			cn.Given = g[0]
			cn.Groups = nicknameGroupsOf(cn.Given)
		}
		if cn.Given != "" || cn.Family != "" {
			f.Carers = append(f.Carers, cn)
		}
		if p := NormalisePhone(ct.Phone); p != "" && !contains(f.Phones, p) {
			f.Phones = append(f.Phones, p)
		}
	}
	if n := ident.NormaliseNHS(c.NHSNumber()); n != "" && ident.CheckNHS(n) == nil {
		f.NHS = n
	}
	if u := ident.NormaliseUPN(c.UPN()); u != "" && ident.CheckUPN(u) == nil {
		f.UPN = u
		f.UPNTemporary = isLetter(u[12])
	}
	return f
}

func (f *Features) setGiven(n record.Name) {
	given := strings.Fields(NormaliseName(n.Given))
	if isPlaceholderGiven(given) {
		given = nil
	}
	var others []string
	if len(given) > 0 {
		f.Given = given[0]
		others = append(others, given[1:]...)
		if len(given) > 1 {
			others = append(others, strings.Join(given, ""))
		}
	}
	others = append(others, strings.Fields(NormaliseName(n.Middle))...)
	if p := joinTokens(NormaliseName(n.Preferred)); p != "" {
		others = append(others, p)
	}
	if f.Given == "" && len(others) > 0 {
		// A record with only a preferred or middle name still names the child.
		f.Given, others = others[0], others[1:]
	}
	for _, o := range others {
		if o != f.Given && !contains(f.GivenOther, o) {
			f.GivenOther = append(f.GivenOther, o)
			f.OtherGroups.add(nicknameGroupsOf(o))
		}
	}
	if f.Given == "" {
		return
	}
	f.GivenGroups = nicknameGroupsOf(f.Given)
	f.GivenCode = NYSIIS(f.Given)
	f.GivenRoots = nicknameRoots(f.Given, f.GivenGroups, 2)
	for _, r := range f.GivenRoots {
		if c := NYSIIS(r); !contains(f.RootCodes, c) {
			f.RootCodes = append(f.RootCodes, c)
		}
	}
}

func (f *Features) setFamily(family string, previous []record.Name) {
	parts := strings.Fields(NormaliseName(family))
	f.Family = strings.Join(parts, "")
	if f.Family == "" {
		return
	}
	f.FamilyCode = NYSIIS(f.Family)
	f.FamilyKeys = append(f.FamilyKeys, f.Family)
	f.FamilyCodes = append(f.FamilyCodes, f.FamilyCode)
	if len(parts) > 1 {
		for _, p := range parts {
			if familyParticles[p] || len(p) < 2 {
				continue
			}
			if !contains(f.FamilyKeys, p) {
				f.FamilyKeys = append(f.FamilyKeys, p)
			}
			if c := NYSIIS(p); len(f.FamilyCodes) < 3 && !contains(f.FamilyCodes, c) {
				f.FamilyCodes = append(f.FamilyCodes, c)
			}
		}
	}
	for _, pn := range previous {
		if p := joinTokens(NormaliseName(pn.Family)); p != "" && !contains(f.FamilyKeys, p) {
			f.FamilyKeys = append(f.FamilyKeys, p)
		}
	}
}

// setBirthDate accepts the schema's YYYY-MM-DD and, because adapters are
// fallible, the UK DD/MM/YYYY; anything else is treated as missing.
func (f *Features) setBirthDate(s string) {
	s = strings.TrimSpace(s)
	var y, m, d int
	var ok bool
	switch {
	case len(s) >= 10 && s[4] == '-' && s[7] == '-':
		y, ok = atoi(s[0:4])
		m, ok = atoiAnd(ok, s[5:7])
		d, ok = atoiAnd(ok, s[8:10])
	case len(s) == 10 && s[2] == '/' && s[5] == '/':
		d, ok = atoi(s[0:2])
		m, ok = atoiAnd(ok, s[3:5])
		y, ok = atoiAnd(ok, s[6:10])
	}
	if !ok || m < 1 || m > 12 || d < 1 || d > 31 || y < 1000 {
		return
	}
	f.Year, f.Month, f.Day = y, m, d
	b := [8]byte{
		byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10),
		byte('0' + m/10), byte('0' + m%10), byte('0' + d/10), byte('0' + d%10),
	}
	f.BirthDate = string(b[:])
}

func atoi(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, len(s) > 0
}

func atoiAnd(ok bool, s string) (int, bool) {
	n, ok2 := atoi(s)
	return n, ok && ok2
}

// setAddressLine takes the first line, adding the second when the first is
// only a flat or unit number ("Flat 2" / "14 Elm Grove").
func (f *Features) setAddressLine(lines []string) {
	if len(lines) == 0 {
		return
	}
	line := NormaliseAddressLine(lines[0])
	second := ""
	if len(lines) > 1 {
		if l2 := NormaliseAddressLine(lines[1]); l2 != "" {
			if hasStreetWord(line) {
				second = l2
			} else {
				line = strings.TrimSpace(line + " " + l2)
			}
		}
	}
	f.AddressLine = line
	f.AddressNumber, f.AddressStreet = splitAddressLine(line)
	var num2 string
	num2, f.AddressOther = splitAddressLine(second)
	if f.AddressNumber == "" {
		// "Rose Court" / "12 High Street": the house number is the
		// street's.
		f.AddressNumber = num2
	}
}

// splitAddressLine parts a normalised line into its house or flat numbers
// and the rest.
func splitAddressLine(line string) (number, street string) {
	var num, words []string
	for _, t := range strings.Fields(line) {
		if strings.ContainsAny(t, "0123456789") {
			num = append(num, t)
		} else if t != "flat" && t != "unit" {
			words = append(words, t)
		}
	}
	return strings.Join(num, " "), strings.Join(words, " ")
}

func hasStreetWord(line string) bool {
	for _, t := range strings.Fields(line) {
		if t != "flat" && t != "unit" && t != "room" && !strings.ContainsAny(t, "0123456789") {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
