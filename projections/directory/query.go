package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"contactpoint/domain/access"
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
	// Offset skips that many matches in rank order (SearchPage).
	Offset int
	paged  bool

	// SeeShielded is set for viewers holding the shield role. Without it a
	// search on a field hidden by a shield (postcode, previous names) never
	// matches a shielded child.
	SeeShielded bool

	// ArchivedSince, when set, also finds children archived on or after
	// that day: a data steward's include_archived search, which reaches
	// back one year (domain/retention.StewardSince). Zero: live only.
	ArchivedSince time.Time
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
	// Seq is the CHILDREN sequence of the last message applied to the
	// child's row: the version of what the view shows.
	Seq uint64
}

// ErrNotFound is returned for an id the directory does not hold.
var ErrNotFound = errors.New("child not found")

// Query is the SQL a search runs, with its arguments; the benchmark runs
// it bare to show the cost of the layers above.
//
// A name search is run in two steps. Candidates are the children whose
// current name matches, found from the date-of-birth index alone (005
// carries the name columns in it, so a date shared by a few hundred
// children costs a few index pages instead of a heap page each), plus the
// few with previous names that match. Only those candidates are then read
// from the table, re-checked against the whole condition and ranked.
func (c Criteria) Query() (string, []any) {
	sh, args := c.shape()
	if q, ok := queries.Load(sh); ok {
		return q.(string), args
	}
	q := sh.sql()
	queries.Store(sh, q)
	return q, args
}

// likeEscaper makes typed text match itself in a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// queries holds the SQL of each shape of search seen: building it costs
// more than the database takes to run it, and there are only a few shapes.
var queries sync.Map // shape -> string

// shape is which criteria a search gives, each as its placeholder ("" when
// not given), and what else changes the SQL. Two searches of one shape run
// the same SQL with different arguments.
type shape struct {
	family, given, givenLike, birth, from, to, gender, postcode, nhs, upn string
	seeShielded                                                           bool
	cap                                                                   int
	archivedSince                                                         string
	offset                                                                string
}

// shape numbers the criteria given, always in the same order.
func (c Criteria) shape() (shape, []any) {
	sh := shape{seeShielded: c.SeeShielded, cap: c.cap()}
	var args []any
	arg := func(dst *string, v any) { args = append(args, v); *dst = "$" + strconv.Itoa(len(args)) }
	if f := strings.ToLower(strings.TrimSpace(c.Family)); f != "" {
		arg(&sh.family, f)
	}
	if g := strings.ToLower(strings.TrimSpace(c.Given)); g != "" {
		arg(&sh.given, g)
		arg(&sh.givenLike, likeEscaper.Replace(g))
	}
	date := func(dst *string, s string) {
		if s != "" {
			d, _ := time.Parse(time.DateOnly, s)
			arg(dst, d)
		}
	}
	date(&sh.birth, c.BirthDate)
	date(&sh.from, c.BornFrom)
	date(&sh.to, c.BornTo)
	if c.Gender != "" {
		arg(&sh.gender, c.Gender)
	}
	if c.Postcode != "" {
		arg(&sh.postcode, c.Postcode)
	}
	if c.NHSNumber != "" {
		arg(&sh.nhs, c.NHSNumber)
	}
	if c.UPN != "" {
		arg(&sh.upn, strings.ToUpper(c.UPN))
	}
	if !c.ArchivedSince.IsZero() {
		arg(&sh.archivedSince, c.ArchivedSince)
	}
	if c.Offset > 0 {
		arg(&sh.offset, c.Offset)
	}
	return sh, args
}

func (sh shape) sql() string {
	// A search on a field a restricted child hides from this viewer must
	// not match it (domain/access decides which): matching on previous
	// names would tell an ordinary viewer who the child used to be, on a
	// postcode where the child lives. `shielded` is the projection's
	// restricted flag: shielded, or a possible duplicate of a shielded child.
	viewer := access.Viewer{}
	if sh.seeShielded {
		viewer.Roles = []string{access.RoleShield}
	}
	hidden := func(field string) bool { return !access.MayMatchRestricted(viewer, field) }
	prevOK := "true"
	if hidden(access.FieldPreviousNames) {
		prevOK = "not shielded"
	}
	cols := []string{"view", "guard", "last_seq"}
	score := []string{"0"}
	// With an exact date of birth or postcode the index has already cut
	// the candidates to a handful, so an edit-distance test (which no index
	// serves) can catch what trigrams and phonetics miss, such as swapped
	// letters in a short name.
	narrow := sh.birth != "" || sh.postcode != ""
	// current and previous hold, per name given, the condition on the
	// current name and the one on previous names; a child matches a name
	// if either holds.
	var current, previous []string
	name := func(col, dm, a string, dmWeight, prevWeight float64) (sim, dmEq string) {
		sim = fmt.Sprintf("similarity(coalesce(%s,''), %s)", col, a)
		lev := fmt.Sprintf("(1 - levenshtein(coalesce(%[1]s,''), %[2]s)::real / greatest(length(%[2]s), length(coalesce(%[1]s,'')), 1))", col, a)
		// A subquery, so that a prepared (generic) plan works out the
		// searched name's code once rather than once per candidate row.
		dmEq = fmt.Sprintf("%s = (select dmetaphone(%s))", dm, a)
		// Cheapest tests first: OR stops at the first that holds, and most
		// candidates on a date fail them all.
		conds := []string{dmEq}
		if narrow {
			// Same test as levenshtein() <= 2, but gives up past 2.
			conds = append(conds, fmt.Sprintf("levenshtein_less_equal(coalesce(%s,''), %s, 2) <= 2", col, a))
		}
		conds = append(conds, fmt.Sprintf("%s %% %s", col, a))
		current = append(current, strings.Join(conds, " or "))
		previous = append(previous, fmt.Sprintf("(%s <%% names and %s)", a, prevOK))
		score = append(score, fmt.Sprintf("greatest(%s, %s, case when %s then %g else 0 end, case when %s then word_similarity(%s, names) * %g else 0 end)",
			sim, lev, dmEq, dmWeight, prevOK, a, prevWeight))
		return sim, dmEq
	}
	if a := sh.family; a != "" {
		sim, dmEq := name("family_name", "family_dm", a, 0.6, 0.8)
		cols = append(cols, sim, dmEq,
			fmt.Sprintf("(%[2]s and word_similarity(%[1]s, names) = 1 and coalesce(family_name,'') <> %[1]s)", a, prevOK))
	} else {
		cols = append(cols, "0::real", "false", "false")
	}
	if a := sh.given; a != "" {
		sim, dmEq := name("given_name", "given_dm", a, 0.5, 0.6)
		// A short form typed for a full name ("oli" for "olivia").
		// The typed text is matched literally: % and _ in it are not
		// wildcards (the argument arrives escaped, see shape).
		current[len(current)-1] += fmt.Sprintf(" or given_name like %s || '%%' escape '\\'", sh.givenLike)
		cols = append(cols, sim, dmEq)
	} else {
		cols = append(cols, "0::real", "false")
	}
	// Archived children leave ordinary search; a steward's include_archived
	// search finds those archived within the year; erased ones never match.
	where := []string{"status = 'active'"}
	if sh.archivedSince != "" {
		where[0] = "(status = 'active' or (status = 'archived' and archived_on >= " + sh.archivedSince + "))"
	}
	if sh.birth != "" {
		where = append(where, "birth_date = "+sh.birth)
	}
	if sh.from != "" {
		where = append(where, "birth_date >= "+sh.from)
	}
	if sh.to != "" {
		where = append(where, "birth_date <= "+sh.to)
	}
	if sh.gender != "" {
		where = append(where, "gender = "+sh.gender)
	}
	if sh.postcode != "" {
		where = append(where, "postcode = "+sh.postcode)
		if hidden(access.FieldPostcode) {
			where = append(where, "not shielded")
		}
	}
	if sh.nhs != "" {
		where = append(where, "nhs_number = "+sh.nhs)
	}
	if sh.upn != "" {
		where = append(where, "upn = "+sh.upn)
	}
	if len(where) == 1 && len(current) == 0 {
		where = append(where, "false")
	}
	all := slices.Clone(where)
	for i := range current {
		all = append(all, "("+current[i]+" or "+previous[i]+")")
	}
	cond := strings.Join(all, " and ")
	if len(current) > 0 {
		// Every match is in one of the two candidate sets: either all its
		// names match its current name, or some name matches a previous
		// one. The second set reads only rows with previous names (their
		// own index in 005), the first only the date-of-birth index.
		first := slices.Clone(where)
		for _, cur := range current {
			first = append(first, "("+cur+")")
		}
		second := append(slices.Clone(where), "names <> ''", "("+strings.Join(previous, " or ")+")")
		cond = fmt.Sprintf("child_id in (select child_id from directory where %s union all select child_id from directory where %s) and %s",
			strings.Join(first, " and "), strings.Join(second, " and "), cond)
	}
	page := ""
	if sh.offset != "" {
		page = " offset " + sh.offset
	}
	return fmt.Sprintf(`select %s, (%s) as score from directory where %s order by score desc, child_id limit %d%s`,
		strings.Join(cols, ", "), strings.Join(score, " + "), cond, sh.cap+1, page)
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
		var raw, guard []byte
		var m match
		var h Hit
		var seq int64
		if err := rows.Scan(&raw, &guard, &seq, &m.famSim, &m.famDM, &m.famPrev, &m.givSim, &m.givDM, &h.Score); err != nil {
			return nil, fmt.Errorf("search directory: %w", err)
		}
		if err := json.Unmarshal(raw, &h.View); err != nil {
			return nil, fmt.Errorf("search directory: %w", err)
		}
		if err := attachGuard(&h.View, guard); err != nil {
			return nil, fmt.Errorf("search directory: %w", err)
		}
		h.Reasons, h.Seq = m.reasons(c), uint64(seq)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search directory: %w", err)
	}
	if len(out) > c.cap() && !c.paged {
		return nil, &TooManyError{Cap: c.cap()}
	}
	return out, nil
}

// SearchPage is Search for a caller that pages: it returns up to one match
// past the cap rather than TooManyError, so the caller sees whether more
// follow. The rule that a search is not for browsing is the caller's to
// keep (the FHIR facade pages through a bounded window).
func (s *Store) SearchPage(ctx context.Context, c Criteria) ([]Hit, error) {
	c.paged = true
	return s.Search(ctx, c)
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
	v, _, err := s.GetAt(ctx, id)
	return v, err
}

// GetAt returns one child's view and the CHILDREN sequence of the last
// message the directory applied to it: where the answer came from.
func (s *Store) GetAt(ctx context.Context, id uuid.UUID) (child.View, uint64, error) {
	var v child.View
	var raw, guard []byte
	var seq int64
	var status string
	var archivedOn *time.Time
	// An absorbed child's id leads to the survivor (merges can chain).
	err := s.pool.QueryRow(ctx, `with recursive chain(id, next, depth) as (
			select child_id, merged_into, 0 from directory where child_id = $1
			union all
			select d.child_id, d.merged_into, c.depth + 1 from directory d join chain c on d.child_id = c.next where c.depth < 32)
		select d.view, d.guard, d.last_seq, d.status, d.archived_on from chain c join directory d on d.child_id = c.id where c.next is null`, id).Scan(&raw, &guard, &seq, &status, &archivedOn)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, 0, ErrNotFound
	}
	if err != nil {
		return v, 0, fmt.Errorf("get child: %w", err)
	}
	// An archived or erased child is not there for ordinary reads; both
	// errors match ErrNotFound, so every route reading through here
	// answers it as absent (stewards and auditors use GetArchived).
	if err := lifeError(status, archivedOn); err != nil {
		return v, 0, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, 0, fmt.Errorf("get child: %w", err)
	}
	if err := attachGuard(&v, guard); err != nil {
		return v, 0, fmt.Errorf("get child: %w", err)
	}
	return v, uint64(seq), nil
}

// Count returns how many children and source records the directory holds.
func (s *Store) Count(ctx context.Context) (children, sources int, err error) {
	err = s.pool.QueryRow(ctx, "select (select count(*) from directory where status = 'active'), (select count(*) from directory_sources)").Scan(&children, &sources)
	return
}
