// Package childmsgtest builds CHILDREN message bodies for the tests of the
// codec and of its readers, so both start from the same bytes.
package childmsgtest

import (
	"testing"

	json "github.com/goccy/go-json"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// Child is a child id the tests share.
const Child = "0190b6c0-aaaa-7000-8000-000000000001"

// Batch is the JSON body of one CHILDREN message for child id.
func Batch(t testing.TB, id string, events ...child.Event) []byte {
	t.Helper()
	b, err := json.Marshal(child.Batch{ChildID: id, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Stated is one source's statement of a child with the given family name.
func Stated(family string) child.Event {
	return child.Event{Type: child.TypeStated, Stated: &child.Stated{
		Source: record.Source{Agency: "health", System: "pas", RecordID: "r1"},
		Child:  record.Child{Name: record.Name{Given: "Ann", Family: family}, BirthDate: "2015-03-14"},
	}}
}
