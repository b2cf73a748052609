package directory

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

func childState(t *testing.T, given, family, dob string) *child.State {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	s := child.NewState(id.String())
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Apply(child.Batch{Events: []child.Event{{Type: child.TypeStated, At: at, Stated: &child.Stated{
		Source: record.Source{Agency: "health", System: "pas", RecordID: given},
		Child:  record.Child{Name: record.Name{Given: given, Family: family}, BirthDate: dob, Gender: "female"}}}}})
	return s
}

// Typed text is matched as text: %, _ and \ are not wildcards or escapes.
func TestSearchMatchesTextLiterally(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	const dob = "2015-03-14"
	if err := BulkLoad(ctx, pool, []*child.State{childState(t, "Olivia", "Hughes", dob), childState(t, "Amelia", "Hughes", dob)}, nil); err != nil {
		t.Fatal(err)
	}
	s := NewStore(pool)
	cases := []struct {
		given string
		want  int
	}{
		{"Oli", 1},     // a short form still finds the full name
		{"o%", 0},      // not "o followed by anything"
		{"%", 0},       // not everyone
		{"_livia", 1},  // found as a spelling a letter away, not as a wildcard
		{"_", 0},       // not any one letter
		{`Oli\`, 1},    // a stray backslash is a character, not an error
		{`\%`, 0},      //
		{"Olivia", 1},  //
		{"Amelia", 1},  //
		{"Ameli_", 1},  // close spelling
		{"Am%lia", 1},  // close spelling, not a pattern
		{"%%%%%%", 0},  //
		{`o\_%`, 0},    //
		{"Olivia_", 1}, // close spelling
	}
	for _, c := range cases {
		hits, err := s.Search(ctx, Criteria{Family: "Hughes", Given: c.given, BirthDate: dob})
		if err != nil {
			t.Fatalf("given %q: %v", c.given, err)
		}
		if len(hits) != c.want {
			t.Errorf("given %q: %d results, want %d", c.given, len(hits), c.want)
		}
	}
}
