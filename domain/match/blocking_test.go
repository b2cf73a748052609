package match

import (
	"strings"
	"testing"

	"contactpoint/domain/record"
)

func shareKey(a, b *Features) bool {
	set := map[string]bool{}
	for _, k := range BlockingKeys(a) {
		set[k] = true
	}
	for _, k := range BlockingKeys(b) {
		if set[k] {
			return true
		}
	}
	return false
}

// TestBlockingSurvivesOneError: a true match with any single error still
// shares at least one key with the original.
func TestBlockingSurvivesOneError(t *testing.T) {
	base := func() *record.Child {
		return with(olivia(), func(c *record.Child) { c.BirthDate = "2015-03-04" })
	}
	errs := map[string]func(*record.Child){
		"given name changed":      func(c *record.Child) { c.Name.Given = "Grace" },
		"nickname":                func(c *record.Child) { c.Name.Given = "Livvy" },
		"family name misspelt":    func(c *record.Child) { c.Name.Family = "Hewes" },
		"double-barrelled":        func(c *record.Child) { c.Name.Family = "Patel-Hughes" },
		"day wrong":               func(c *record.Child) { c.BirthDate = "2015-03-07" },
		"month wrong":             func(c *record.Child) { c.BirthDate = "2015-08-04" },
		"year wrong":              func(c *record.Child) { c.BirthDate = "2016-03-04" },
		"day and month swapped":   func(c *record.Child) { c.BirthDate = "2015-04-03" },
		"moved":                   func(c *record.Child) { c.Address = &record.Address{Postcode: "M1 1AE"} },
		"no address":              func(c *record.Child) { c.Address = nil },
		"month wrong, no address": func(c *record.Child) { c.BirthDate = "2015-08-04"; c.Address = nil },
	}
	for name, change := range errs {
		a, b := feat(base()), feat(with(base(), change))
		if !shareKey(a, b) {
			t.Errorf("%s: no blocking key in common\n  %v\n  %v", name, BlockingKeys(a), BlockingKeys(b))
		}
	}
	// Identifiers block on their own.
	a := feat(with(bare("Olivia", "Hughes", "2015-03-04"), withNHS(nhsA)))
	b := feat(with(bare("Harry", "Patel", "2001-12-25"), withNHS(nhsA)))
	if !shareKey(a, b) {
		t.Error("same NHS number does not share a key")
	}
}

// TestBlockingSurvivesTwoErrors: a true match with any two errors in
// different fields — a typo in both names, a nickname and a typo, a changed
// surname and a move, a wrong digit and a misspelt name — still shares at
// least one key with the original.
func TestBlockingSurvivesTwoErrors(t *testing.T) {
	type fault struct {
		name   string
		fields []string // the fields it touches: two faults on one field are one error
		change func(*record.Child)
	}
	faults := []fault{
		{"given name misspelt", []string{"given"}, func(c *record.Child) { c.Name.Given = "Olovia" }},
		{"given name misspelt at its start", []string{"given"}, func(c *record.Child) { c.Name.Given = "Pliva" }},
		{"nickname", []string{"given"}, func(c *record.Child) { c.Name.Given = "Livvy" }},
		{"family name misspelt", []string{"family"}, func(c *record.Child) { c.Name.Family = "Hugehs" }},
		{"family name misspelt at its start", []string{"family"}, func(c *record.Child) { c.Name.Family = "Jughes" }},
		{"surname changed", []string{"family"}, func(c *record.Child) { c.Name.Family = "Patel" }},
		{"names the wrong way round", []string{"given", "family"}, func(c *record.Child) { c.Name.Given, c.Name.Family = c.Name.Family, c.Name.Given }},
		{"day wrong", []string{"dob"}, func(c *record.Child) { c.BirthDate = "2015-03-07" }},
		{"month wrong", []string{"dob"}, func(c *record.Child) { c.BirthDate = "2015-08-04" }},
		{"year wrong", []string{"dob"}, func(c *record.Child) { c.BirthDate = "2016-03-04" }},
		{"day and month swapped", []string{"dob"}, func(c *record.Child) { c.BirthDate = "2015-04-03" }},
		{"moved", []string{"address"}, func(c *record.Child) {
			c.Address = &record.Address{Lines: []string{"3 Church Lane"}, Postcode: "M1 1AE"}
			c.Contacts[0].Phone = "07700 900999"
		}},
		{"no address", []string{"address"}, func(c *record.Child) { c.Address = nil }},
		{"no gender", []string{"gender"}, func(c *record.Child) { c.Gender = "" }},
		{"no middle name", []string{"middle"}, func(c *record.Child) { c.Name.Middle = "" }},
	}
	overlap := func(a, b fault) bool {
		for _, x := range a.fields {
			for _, y := range b.fields {
				if x == y {
					return true
				}
			}
		}
		return false
	}
	base := func() *record.Child {
		return with(olivia(), func(c *record.Child) { c.BirthDate = "2015-03-04" })
	}
	for i, x := range faults {
		for _, y := range faults[i+1:] {
			if overlap(x, y) {
				continue
			}
			a, b := feat(base()), feat(with(with(base(), x.change), y.change))
			if !shareKey(a, b) {
				t.Errorf("%s and %s: no blocking key in common", x.name, y.name)
			}
		}
	}
}

func TestBlockingKeysAreCompactAndSelective(t *testing.T) {
	f := feat(with(olivia(), withNHS(nhsA)))
	keys := BlockingKeys(f)
	if len(keys) < 6 || len(keys) > 40 {
		t.Fatalf("%d keys: %v", len(keys), keys)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("duplicate key %q", k)
		}
		seen[k] = true
		if i := strings.IndexByte(k, '|'); i < 1 || i > 2 {
			t.Errorf("key %q has no kind prefix", k)
		}
		if strings.Contains(strings.ToLower(k), "olivia") || strings.Contains(strings.ToLower(k), "hughes") {
			t.Errorf("key %q holds a raw name", k)
		}
	}
	// Siblings in one household do not share a key unless their names or
	// dates collide.
	sib := feat(with(olivia(), func(c *record.Child) { c.Name.Given = "Harry"; c.BirthDate = "2012-07-30" }))
	if shareKey(f, sib) {
		t.Errorf("siblings share a key: %v / %v", keys, BlockingKeys(sib))
	}
	if k := BlockingKeys(&Features{}); len(k) != 0 {
		t.Errorf("empty features give keys %v", k)
	}
}

// TestBlockingSurvivesErrorsAcrossTheHousehold: records of one child whose
// names are both misspelt and whose household differs in one part — the
// postcode's unit mistyped, the house number changed, or the sector
// mistyped while each name keeps its first letter — still meet, as do
// records whose date of birth is wholly wrong and whose unit
// is mistyped; a child born on another day in the sector, or on the day in
// another district, does not.
func TestBlockingSurvivesErrorsAcrossTheHousehold(t *testing.T) {
	misspelt := func(c *record.Child) { c.Name.Given, c.Name.Family = "Pliva", "Jughes" }
	tests := []struct {
		name   string
		change func(*record.Child)
		meet   bool
	}{
		{"postcode unit mistyped", func(c *record.Child) { misspelt(c); c.Address.Postcode = "LS6 2AD" }, true},
		{"postcode unit mistyped, house number changed", func(c *record.Child) {
			misspelt(c)
			c.Address.Postcode, c.Address.Lines = "LS6 2AD", []string{"41 Elm Grove"}
		}, true},
		{"postcode sector mistyped, names misspelt after the first letter", func(c *record.Child) {
			c.Name.Given, c.Name.Family = "Olvia", "Hguhes"
			c.Address.Postcode = "LS6 3AB"
		}, true},
		{"postcode sector mistyped, both first letters wrong", func(c *record.Child) { misspelt(c); c.Address.Postcode = "LS6 3AB" }, false},
		{"another district", func(c *record.Child) { misspelt(c); c.Address.Postcode = "LS7 2AB" }, false},
		{"date of birth wholly wrong, postcode unit mistyped", func(c *record.Child) {
			c.Address.Postcode, c.BirthDate = "LS6 2AD", "2016-09-21"
		}, true},
		{"date of birth wholly wrong, another sector", func(c *record.Child) {
			c.Address.Postcode, c.BirthDate = "LS6 3AD", "2016-09-21"
		}, false},
		{"same sector, another day", func(c *record.Child) {
			misspelt(c)
			c.Address.Postcode, c.BirthDate = "LS6 2AD", "2015-06-21"
		}, false},
	}
	base := func() *record.Child {
		return with(olivia(), func(c *record.Child) { c.BirthDate = "2015-03-04"; c.Contacts = nil })
	}
	for _, tt := range tests {
		a, b := feat(base()), feat(with(base(), tt.change))
		if got := shareKey(a, b); got != tt.meet {
			t.Errorf("%s: share a key %v, want %v", tt.name, got, tt.meet)
		}
	}
}

// TestBlockingSurvivesSwappedAndMisspeltNames: names keyed the wrong way
// round with one of them misspelt, at another postcode, still meet on the
// date of birth and the name spelt right; a child of another family born
// the same day whose given name is this child's family name does not.
func TestBlockingSurvivesSwappedAndMisspeltNames(t *testing.T) {
	tests := []struct {
		name string
		b    record.Name
		meet bool
	}{
		{"swapped, given misspelt", record.Name{Given: "Hughes", Family: "Olovya"}, true},
		{"swapped, family misspelt", record.Name{Given: "Jughes", Family: "Olivia"}, true},
		{"another family", record.Name{Given: "Pliva", Family: "Jughes"}, false},
	}
	base := func() *record.Child {
		return &record.Child{Name: record.Name{Given: "Olivia", Family: "Hughes"}, BirthDate: "2015-03-04",
			Address: &record.Address{Postcode: "LS6 2AB"}}
	}
	for _, tt := range tests {
		b := base()
		b.Name = tt.b
		b.Address = &record.Address{Postcode: "M1 1AE"}
		if got := shareKey(feat(base()), feat(b)); got != tt.meet {
			t.Errorf("%s: share a key %v, want %v", tt.name, got, tt.meet)
		}
	}
}
