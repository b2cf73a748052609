package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"contactpoint/domain/child"
)

// Store answers queries over the directory tables.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a query store.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Result caps: a search is for finding one child, not for browsing.
const (
	DefaultCap = 20
	MaxCap     = 50
)

// Criteria of a directory search. Every criterion given must match; names
// match typo-tolerantly and phonetically, everything else exactly.
type Criteria struct {
	Family    string
	Given     string
	BirthDate string // YYYY-MM-DD, exact
	BornFrom  string // YYYY-MM-DD, inclusive; with BornTo, a range
	BornTo    string // YYYY-MM-DD, inclusive
	Gender    string
	Postcode  string // normalised
	NHSNumber string // ten digits
	UPN       string
	Limit     int // the cap; DefaultCap when 0, at most MaxCap

	// SeeShielded is set for viewers holding the shield role. Without it a
	// search on a field hidden by a shield (postcode, previous names) never
	// matches a shielded child.
	SeeShielded bool
}

// ErrNeedMoreDetail is returned for a search that would browse: it has no
// name with a date of birth, range or postcode, and no exact identifier.
var ErrNeedMoreDetail = errors.New("a search needs a name (family or given) together with a date of birth, a date-of-birth or age range, or a postcode; or an exact NHS number or UPN")

// TooManyError is returned when more children match than the cap allows:
// the searcher is asked for more detail instead of being shown a list.
type TooManyError struct{ Cap int }

func (e *TooManyError) Error() string {
	return fmt.Sprintf("more than %d children match; add a given name, an exact date of birth, a postcode or an identifier", e.Cap)
}

// Check reports whether the criteria make an allowed search.
func (c Criteria) Check() error {
	for _, d := range []string{c.BirthDate, c.BornFrom, c.BornTo} {
		if d == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return fmt.Errorf("date %q is not in YYYY-MM-DD form", d)
		}
	}
	if c.BornFrom != "" && c.BornTo != "" && c.BornFrom > c.BornTo {
		return errors.New("the start of the date-of-birth range is after its end")
	}
	if c.NHSNumber != "" || c.UPN != "" {
		return nil
	}
	named := strings.TrimSpace(c.Family) != "" || strings.TrimSpace(c.Given) != ""
	narrowed := c.BirthDate != "" || (c.BornFrom != "" && c.BornTo != "") || c.Postcode != ""
	if !named || !narrowed {
		return ErrNeedMoreDetail
	}
	return nil
}

// Hit is one search result: the child's view, how close it came and why.
type Hit struct {
	View    child.View
	Score   float64
	Reasons []string
}

// ErrNotFound is returned for an id the directory does not hold.
var ErrNotFound = errors.New("child not found")

// Query is the SQL a search runs, with its arguments; the benchmark runs
// it bare to show the cost of the layers above.
func (c Criteria) Query() (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	// Previous names are hidden on a shielded child; matching on them
	// would tell an ordinary viewer who the child used to be.
	prevOK := "true"
	if !c.SeeShielded {
		prevOK = "not shielded"
	}
	cols := []string{"view"}
	score := []string{"0"}
	// With an exact date of birth or postcode the index has already cut
	// the candidates to a handful, so an edit-distance test (which no index
	// serves) can catch what trigrams and phonetics miss, such as swapped
	// letters in a short name.
	narrow := c.BirthDate != "" || c.Postcode != ""
	name := func(col, dm, q string, dmWeight, prevWeight float64) (cond, sim, lev string) {
		a := arg(q)
		sim = fmt.Sprintf("similarity(coalesce(%s,''), %s)", col, a)
		lev = fmt.Sprintf("(1 - levenshtein(coalesce(%[1]s,''), %[2]s)::real / greatest(length(%[2]s), length(coalesce(%[1]s,'')), 1))", col, a)
		conds := []string{fmt.Sprintf("%s %% %s", col, a), fmt.Sprintf("%s = dmetaphone(%s)", dm, a), fmt.Sprintf("(%s <%% names and %s)", a, prevOK)}
		if narrow {
			conds = append(conds, fmt.Sprintf("levenshtein(coalesce(%s,''), %s) <= 2", col, a))
		}
		score = append(score, fmt.Sprintf("greatest(%s, %s, case when %s = dmetaphone(%s) then %g else 0 end, case when %s then word_similarity(%s, names) * %g else 0 end)",
			sim, lev, dm, a, dmWeight, prevOK, a, prevWeight))
		return "(" + strings.Join(conds, " or ") + ")", sim, a
	}
	if f := strings.ToLower(strings.TrimSpace(c.Family)); f != "" {
		cond, sim, a := name("family_name", "family_dm", f, 0.6, 0.8)
		where = append(where, cond)
		cols = append(cols, sim, fmt.Sprintf("family_dm = dmetaphone(%s)", a),
			fmt.Sprintf("(%[2]s and word_similarity(%[1]s, names) = 1 and coalesce(family_name,'') <> %[1]s)", a, prevOK))
	} else {
		cols = append(cols, "0::real", "false", "false")
	}
	if g := strings.ToLower(strings.TrimSpace(c.Given)); g != "" {
		cond, sim, a := name("given_name", "given_dm", g, 0.5, 0.6)
		// A short form typed for a full name ("oli" for "olivia").
		where = append(where, "("+cond+fmt.Sprintf(" or given_name like %s || '%%')", a))
		cols = append(cols, sim, fmt.Sprintf("given_dm = dmetaphone(%s)", a))
	} else {
		cols = append(cols, "0::real", "false")
	}
	if c.BirthDate != "" {
		d, _ := time.Parse(time.DateOnly, c.BirthDate)
		where = append(where, "birth_date = "+arg(d))
	}
	if c.BornFrom != "" {
		d, _ := time.Parse(time.DateOnly, c.BornFrom)
		where = append(where, "birth_date >= "+arg(d))
	}
	if c.BornTo != "" {
		d, _ := time.Parse(time.DateOnly, c.BornTo)
		where = append(where, "birth_date <= "+arg(d))
	}
	if c.Gender != "" {
		where = append(where, "gender = "+arg(c.Gender))
	}
	if c.Postcode != "" {
		where = append(where, "postcode = "+arg(c.Postcode))
		if !c.SeeShielded {
			// A postcode search must not reveal that a shielded child
			// lives there.
			where = append(where, "not shielded")
		}
	}
	if c.NHSNumber != "" {
		where = append(where, "nhs_number = "+arg(c.NHSNumber))
	}
	if c.UPN != "" {
		where = append(where, "upn = "+arg(strings.ToUpper(c.UPN)))
	}
	if len(where) == 0 {
		where = append(where, "false")
	}
	q := fmt.Sprintf(`select %s, (%s) as score from directory where status = 'active' and %s order by score desc, child_id limit %d`,
		strings.Join(cols, ", "), strings.Join(score, " + "), strings.Join(where, " and "), c.cap()+1)
	return q, args
}

func (c Criteria) cap() int {
	if c.Limit <= 0 {
		return DefaultCap
	}
	return min(c.Limit, MaxCap)
}

// Search finds children, closest first, each with the reasons it matched.
func (s *Store) Search(ctx context.Context, c Criteria) ([]Hit, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	q, args := c.Query()
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search directory: %w", err)
	}
	defer rows.Close()
	var out []Hit
	for rows.Next() {
		var raw []byte
		var m match
		var h Hit
		if err := rows.Scan(&raw, &m.famSim, &m.famDM, &m.famPrev, &m.givSim, &m.givDM, &h.Score); err != nil {
			return nil, fmt.Errorf("search directory: %w", err)
		}
		if err := json.Unmarshal(raw, &h.View); err != nil {
			return nil, fmt.Errorf("search directory: %w", err)
		}
		h.Reasons = m.reasons(c)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search directory: %w", err)
	}
	if len(out) > c.cap() {
		return nil, &TooManyError{Cap: c.cap()}
	}
	return out, nil
}

type match struct {
	famSim, givSim float32
	famDM, givDM   bool
	famPrev        bool
}

// reasons says in words why a child matched; it names only criteria the
// searcher gave, never a value the searcher did not already know.
func (m match) reasons(c Criteria) []string {
	var out []string
	name := func(what string, given string, sim float32, dm bool) {
		switch {
		case given == "":
		case sim >= 0.999:
			out = append(out, what+" name exact")
		case dm && sim < 0.5:
			out = append(out, what+" name sounds alike")
		case sim > 0:
			out = append(out, fmt.Sprintf("%s name similar (%.2f)", what, sim))
		default:
			out = append(out, what+" name partly matches")
		}
	}
	name("family", c.Family, m.famSim, m.famDM)
	if m.famPrev {
		out = append(out, "matches a previous family name")
	}
	name("given", c.Given, m.givSim, m.givDM)
	if c.BirthDate != "" {
		out = append(out, "date of birth exact")
	}
	if c.BornFrom != "" || c.BornTo != "" {
		out = append(out, "date of birth in range")
	}
	if c.Gender != "" {
		out = append(out, "gender")
	}
	if c.Postcode != "" {
		out = append(out, "postcode exact")
	}
	if c.NHSNumber != "" {
		out = append(out, "NHS number exact")
	}
	if c.UPN != "" {
		out = append(out, "UPN exact")
	}
	return out
}

// Get returns one child's view.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (child.View, error) {
	var v child.View
	var raw []byte
	// An absorbed child's id leads to the survivor (merges can chain).
	err := s.pool.QueryRow(ctx, `with recursive chain(id, next, depth) as (
			select child_id, merged_into, 0 from directory where child_id = $1
			union all
			select d.child_id, d.merged_into, c.depth + 1 from directory d join chain c on d.child_id = c.next where c.depth < 32)
		select d.view from chain c join directory d on d.child_id = c.id where c.next is null`, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	if err != nil {
		return v, fmt.Errorf("get child: %w", err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("get child: %w", err)
	}
	return v, nil
}

// Count returns how many children and source records the directory holds.
func (s *Store) Count(ctx context.Context) (children, sources int, err error) {
	err = s.pool.QueryRow(ctx, "select (select count(*) from directory where status = 'active'), (select count(*) from directory_sources)").Scan(&children, &sources)
	return
}
