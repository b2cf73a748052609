package match

import (
	"contactpoint/domain/ident"
	"contactpoint/domain/record"
)

// olivia is the child of the schema examples; tests change one thing at a time.
func olivia() *record.Child {
	return &record.Child{
		Name:      record.Name{Given: "Olivia", Middle: "Grace", Family: "Hughes"},
		BirthDate: "2015-03-14",
		Gender:    "female",
		Address:   &record.Address{Lines: []string{"14 Elm Grove"}, Town: "Leeds", Postcode: "LS6 2AB"},
		Contacts: []record.Contact{{
			Relationship: "mother",
			Name:         record.Name{Given: "Sarah", Family: "Hughes"},
			Phone:        "07700 900123",
		}},
	}
}

func with(c *record.Child, change func(*record.Child)) *record.Child {
	change(c)
	return c
}

func feat(c *record.Child) *Features {
	f := FeaturesOf(c)
	return &f
}

// bare is a child with only the fields a test sets.
func bare(given, family, dob string) *record.Child {
	return &record.Child{Name: record.Name{Given: given, Family: family}, BirthDate: dob}
}

func upnCheck(body string) (byte, bool) { return ident.UPNCheckLetter(body) }
