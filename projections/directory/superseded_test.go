package directory

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/domain/child"
)

// TestAbsorbedFollowsMergesThroughTheIndex: a survivor names every child
// absorbed into it, through a chain of merges, each with its own row's
// last version; an absorbed row says so of itself; and the walk down
// merged_into is served by directory_merged_into at each step, not by a
// scan of the directory (with sequential scans priced out, a plan without
// the index would still scan).
func TestAbsorbedFollowsMergesThroughTheIndex(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	const dob = "2015-03-14"
	states := []*child.State{childState(t, "Olivia", "Hughes", dob), childState(t, "Olly", "Hughes", dob),
		childState(t, "Liv", "Hughes", dob), childState(t, "Amelia", "Hughes", dob)}
	if err := BulkLoad(ctx, pool, states, nil); err != nil {
		t.Fatal(err)
	}
	a, b, c, d := states[0].ID, states[1].ID, states[2].ID, states[3].ID
	// c was absorbed into b, then b into a; d stands alone.
	for i, m := range [][2]string{{c, b}, {b, a}} {
		if _, err := pool.Exec(ctx, `update directory set merged_into = $2, status = 'merged', last_seq = $3 where child_id = $1`, m[0], m[1], 10+i); err != nil {
			t.Fatal(err)
		}
	}
	s := NewStore(pool)
	abs, err := s.Absorbed(ctx, []string{a, d})
	if err != nil {
		t.Fatal(err)
	}
	want := []Superseded{{b, 11}, {c, 10}}
	if want[0].ID > want[1].ID {
		want[0], want[1] = want[1], want[0]
	}
	if !reflect.DeepEqual(abs[a], want) || len(abs[d]) != 0 {
		t.Fatalf("absorbed %v, want %s: %v and nothing for %s", abs, a, want, d)
	}
	for _, tc := range []struct {
		id       string
		seq      uint64
		absorbed bool
		err      error
	}{
		{id: c, seq: 10, absorbed: true},
		{id: b, seq: 11, absorbed: true},
		{id: a, seq: 0, absorbed: false},
		{id: uuid.NewString(), err: ErrNotFound},
	} {
		seq, absorbed, err := s.Own(ctx, uuid.MustParse(tc.id))
		if !errors.Is(err, tc.err) || absorbed != tc.absorbed || (tc.absorbed && seq != tc.seq) {
			t.Errorf("own %s: seq %d absorbed %v err %v, want %d %v %v", tc.id, seq, absorbed, err, tc.seq, tc.absorbed, tc.err)
		}
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "set local enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "explain (costs off) "+absorbedQuery, []string{a})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(lines, "\n")
	if n := strings.Count(text, "using directory_merged_into"); n != 2 || strings.Contains(text, "Seq Scan") {
		t.Fatalf("the walk down merged_into uses directory_merged_into %d times, want both steps:\n%s", n, text)
	}
}
