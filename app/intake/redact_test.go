package intake

import (
	"strings"
	"testing"

	"contactpoint/domain/record"
)

func TestRedactForbidden(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		fes      []record.FieldError
		gone     []string // must not appear in the output
		kept     []string // must still appear
		sameAsIn bool
	}{
		{name: "diagnosis in child", in: `{"child":{"name":{"given":"Ann"},"diagnosis":"asthma, severe"}}`,
			fes:  []record.FieldError{{Field: "/child/diagnosis", Rule: RuleForbidden}},
			gone: []string{"asthma"}, kept: []string{"Ann", `"diagnosis":"` + Withheld}},
		{name: "nested object and array", in: `{"notes":{"text":"seen at home"},"child":{"contacts":[{"medications":["x-drug"]}]}}`,
			fes:  []record.FieldError{{Field: "/notes", Rule: RuleForbidden}, {Field: "/child/contacts/0/medications", Rule: RuleForbidden}},
			gone: []string{"seen at home", "x-drug"}, kept: []string{`"notes":"` + Withheld}},
		{name: "escaped pointer", in: `{"a/b":{"c~d":"secret"}}`,
			fes:  []record.FieldError{{Field: "/a~1b/c~0d", Rule: RuleForbidden}},
			gone: []string{"secret"}},
		{name: "other rules keep the bytes", in: `{"child":{"birth_date":"2999-01-01"}}`,
			fes: []record.FieldError{{Field: "/child/birth_date", Rule: "child-birth-date"}}, sameAsIn: true},
		{name: "not JSON", in: `MSH|^~\&|diagnosis`,
			fes: []record.FieldError{{Field: "/child/diagnosis", Rule: RuleForbidden}}, sameAsIn: true},
		{name: "missing path", in: `{"child":{}}`,
			fes: []record.FieldError{{Field: "/child/diagnosis", Rule: RuleForbidden}}, sameAsIn: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := string(redactForbidden([]byte(c.in), c.fes))
			if c.sameAsIn && out != c.in {
				t.Fatalf("changed bytes: %s", out)
			}
			for _, g := range c.gone {
				if strings.Contains(out, g) {
					t.Errorf("%q still in %s", g, out)
				}
			}
			for _, k := range c.kept {
				if !strings.Contains(out, k) {
					t.Errorf("%q missing from %s", k, out)
				}
			}
		})
	}
	// The same value gives the same digest: a sender can match the entry.
	a := string(redactForbidden([]byte(`{"x":"v"}`), []record.FieldError{{Field: "/x", Rule: RuleForbidden}}))
	b := string(redactForbidden([]byte(`{"x":"v","y":1}`), []record.FieldError{{Field: "/x", Rule: RuleForbidden}}))
	if !strings.Contains(b, a[len(`{"x":"`):len(a)-2]) {
		t.Errorf("digests differ: %s vs %s", a, b)
	}
}
