package directory

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"contactpoint/domain/child"
)

// ReviewTask is a possible match for a data steward to decide.
type ReviewTask struct {
	ID          int64           `json:"id"`
	ChildID     uuid.UUID       `json:"child_id"`
	CandidateID uuid.UUID       `json:"candidate_id"`
	Source      *SourceRef      `json:"source,omitempty"`
	Score       float64         `json:"score"`
	Evidence    json.RawMessage `json:"evidence,omitempty"`
	RequestedAt time.Time       `json:"requested_at"`
	Status      string          `json:"status"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	DecidedAt   *time.Time      `json:"decided_at,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	// Shielded is set, and Source and Evidence withheld, when either child
	// is restricted and the viewer lacks the shield role.
	Shielded bool   `json:"shielded,omitempty"`
	Contact  string `json:"contact,omitempty"`

	// Why the record was not linked (match.WhyScoreBand, WhyTwin,
	// WhyIdentifier, WhyHousehold), the rule's sentence, and the
	// candidate's source record it was compared with. Tasks requested
	// before the linker gave reasons have Why "score band" and no more.
	Why         string     `json:"why,omitempty"`
	Explanation string     `json:"explanation,omitempty"`
	Compared    *SourceRef `json:"compared_source,omitempty"`
	// Fields sets the two children's values side by side with how they
	// compared, for the single-task view (see SideBySide).
	Fields []ReviewField `json:"fields,omitempty"`
	// Correction is set on a correction-conflict task (Why
	// child.WhyCorrectionConflict): the field, the corrected value, the
	// source's differing value, which source and when. Such a task is
	// about one child, its own candidate, and has score 0.
	Correction *child.ConflictTask `json:"correction,omitempty"`
}

// ReviewField is one compared field of a review task: each child's value
// as its record view shows it, the comparison level and its weight.
type ReviewField struct {
	Field     string  `json:"field"`
	Level     string  `json:"level"`
	Weight    float64 `json:"weight"`
	Counted   float64 `json:"counted"`
	Sentence  string  `json:"sentence"`
	Child     string  `json:"child"`
	Candidate string  `json:"candidate"`
}

// Withhold reduces the task to what a viewer without the shield role may
// see of a task about a restricted child: the ids, the score, its state,
// and whom to contact. The source record and the evidence (which compares
// addresses, schools and carers) are not shown.
func (t ReviewTask) Withhold(contact string) ReviewTask {
	return ReviewTask{ID: t.ID, ChildID: t.ChildID, CandidateID: t.CandidateID, Score: t.Score, RequestedAt: t.RequestedAt,
		Status: t.Status, DecidedBy: t.DecidedBy, DecidedAt: t.DecidedAt, Shielded: true, Contact: contact}
}

// SourceRef names a source record.
type SourceRef struct {
	Agency   string `json:"agency"`
	System   string `json:"system"`
	RecordID string `json:"record_id"`
}

// ErrNoTask is returned for a review task id the queue does not hold.
var ErrNoTask = errors.New("no such review task")

const taskColumns = `task_id, child_id, candidate_id, source_agency, source_system, source_record_id, score, evidence,
	requested_at, status, coalesce(decided_by, ''), decided_at, coalesce(reason, ''), ` + comparedColumn

// comparedColumn resolves a task's compared_ref (child.ComparedDigest,
// computed here the same way) to the candidate's source record it names,
// while the candidate holds it: nothing once the candidate is erased.
const comparedColumn = `(select jsonb_build_object('agency', s.agency, 'system', s.system, 'record_id', s.record_id)
	from directory_sources s where review_tasks.evidence ? 'compared_ref' and s.child_id = review_tasks.candidate_id
	and encode(sha256(convert_to(review_tasks.candidate_id::text || '/' || s.agency || '/' || s.system || '/' || s.record_id, 'UTF8')), 'hex')
		= review_tasks.evidence->>'compared_ref' limit 1)`

func scanTask(row pgx.Row) (ReviewTask, error) {
	var t ReviewTask
	var agency, system, rid *string
	var evidence, compared []byte
	err := row.Scan(&t.ID, &t.ChildID, &t.CandidateID, &agency, &system, &rid, &t.Score, &evidence,
		&t.RequestedAt, &t.Status, &t.DecidedBy, &t.DecidedAt, &t.Reason, &compared)
	if err != nil {
		return t, err
	}
	if agency != nil && system != nil && rid != nil {
		t.Source = &SourceRef{*agency, *system, *rid}
	}
	t.Evidence = evidence
	// The projection keeps why, the rule's sentence and the compared
	// source in the evidence document, beside the field-by-field scores.
	var extra struct {
		Why      string     `json:"why"`
		Reason   string     `json:"why_reason"`
		Compared *SourceRef `json:"compared"`
		// A correction conflict's detail (conflictEvidence).
		Correction *child.ConflictTask `json:"correction"`
	}
	if len(evidence) > 0 && json.Unmarshal(evidence, &extra) == nil {
		t.Why, t.Explanation, t.Compared, t.Correction = extra.Why, extra.Reason, extra.Compared, extra.Correction
	}
	if t.Compared == nil && compared != nil {
		var ref SourceRef
		if json.Unmarshal(compared, &ref) == nil {
			t.Compared = &ref
		}
	}
	if t.Why == "" {
		t.Why = "score band"
	}
	return t, nil
}

// ComparedSources resolves review requests' compared_ref (child.
// ComparedDigest), given as ref → candidate, to the candidate's source
// record each names, as comparedColumn does; a ref whose record the
// candidate no longer holds (moved on, or erased) is absent.
func (s *Store) ComparedSources(ctx context.Context, refs map[string]uuid.UUID) (map[string]SourceKey, error) {
	out := map[string]SourceKey{}
	if len(refs) == 0 {
		return out, nil
	}
	rs, cands := make([]string, 0, len(refs)), make([]uuid.UUID, 0, len(refs))
	for r, c := range refs {
		rs, cands = append(rs, r), append(cands, c)
	}
	rows, err := s.pool.Query(ctx, `select x.ref, s.agency, s.system, s.record_id
		from unnest($1::text[], $2::uuid[]) x(ref, cand) join directory_sources s on s.child_id = x.cand
		where encode(sha256(convert_to(x.cand::text || '/' || s.agency || '/' || s.system || '/' || s.record_id, 'UTF8')), 'hex') = x.ref`, rs, cands)
	if err != nil {
		return nil, fmt.Errorf("compared sources: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ref string
		var k SourceKey
		if err := rows.Scan(&ref, &k.Agency, &k.System, &k.RecordID); err != nil {
			return nil, fmt.Errorf("compared sources: %w", err)
		}
		out[ref] = k
	}
	return out, rows.Err()
}

// ReviewQuery selects a page of open review tasks.
type ReviewQuery struct {
	// Why keeps only the tasks of one reason ("" for all).
	Why string
	// ByScore orders by score, highest first; otherwise oldest first.
	ByScore bool
	// After is the Next of the previous page ("" for the first).
	After string
	// Limit is the page size, 1 to MaxReviewPage (default 50).
	Limit int
}

// MaxReviewPage is the largest page of review tasks.
const MaxReviewPage = 500

// ErrBadCursor is returned for an After that no page gave.
var ErrBadCursor = errors.New("the page cursor is not one this queue gave")

// ReviewPage returns one page of open review tasks and the cursor of the
// next page ("" after the last). Pages are keyed by position, not offset,
// so paging reaches every open task however many there are, and a task
// decided meanwhile moves no other task between pages.
func (s *Store) ReviewPage(ctx context.Context, q ReviewQuery) ([]ReviewTask, string, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	q.Limit = min(q.Limit, MaxReviewPage)
	var score float64
	var at time.Time
	var after int64
	if q.After != "" {
		var err error
		if score, at, after, err = parseCursor(q.After, q.ByScore); err != nil {
			return nil, "", err
		}
	}
	where := `status = 'open' and ($1 = '' or coalesce(evidence->>'why', 'score band') = $1)`
	order := `requested_at, task_id`
	args := []any{q.Why, q.Limit + 1}
	switch {
	case q.ByScore && after > 0:
		where += ` and (score < $3 or (score = $3 and task_id > $4))`
		args = append(args, score, after)
	case q.ByScore:
		order = `score desc, task_id`
	case after > 0:
		where += ` and (requested_at, task_id) > ($3, $4)`
		args = append(args, at, after)
	}
	if q.ByScore {
		order = `score desc, task_id`
	}
	rows, err := s.pool.Query(ctx, `select `+taskColumns+` from review_tasks where `+where+` order by `+order+` limit $2`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list reviews: %w", err)
	}
	defer rows.Close()
	out := []ReviewTask{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list reviews: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list reviews: %w", err)
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		last := out[len(out)-1]
		next = cursor(last, q.ByScore)
	}
	return out, next, nil
}

// A cursor is the last task's position: its score or request time and id.
func cursor(t ReviewTask, byScore bool) string {
	if byScore {
		return "s" + strconv.FormatFloat(t.Score, 'g', -1, 64) + "_" + strconv.FormatInt(t.ID, 10)
	}
	return "t" + strconv.FormatInt(t.RequestedAt.UnixMicro(), 10) + "_" + strconv.FormatInt(t.ID, 10)
}

func parseCursor(c string, byScore bool) (float64, time.Time, int64, error) {
	kind := byte('t')
	if byScore {
		kind = 's'
	}
	i := strings.IndexByte(c, '_')
	if len(c) < 4 || c[0] != kind || i < 2 {
		return 0, time.Time{}, 0, ErrBadCursor
	}
	id, err := strconv.ParseInt(c[i+1:], 10, 64)
	if err != nil || id <= 0 {
		return 0, time.Time{}, 0, ErrBadCursor
	}
	if byScore {
		s, err := strconv.ParseFloat(c[1:i], 64)
		if err != nil {
			return 0, time.Time{}, 0, ErrBadCursor
		}
		return s, time.Time{}, id, nil
	}
	us, err := strconv.ParseInt(c[1:i], 10, 64)
	if err != nil {
		return 0, time.Time{}, 0, ErrBadCursor
	}
	return 0, time.UnixMicro(us), id, nil
}

// OpenReviews lists open review tasks, oldest first.
func (s *Store) OpenReviews(ctx context.Context, limit int) ([]ReviewTask, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := s.pool.Query(ctx, `select `+taskColumns+` from review_tasks where status = 'open'
		order by requested_at, task_id limit $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	defer rows.Close()
	out := []ReviewTask{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("list reviews: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Review returns one review task.
func (s *Store) Review(ctx context.Context, id int64) (ReviewTask, error) {
	t, err := scanTask(s.pool.QueryRow(ctx, `select `+taskColumns+` from review_tasks where task_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNoTask
	}
	if err != nil {
		return t, fmt.Errorf("get review: %w", err)
	}
	return t, nil
}

// ReviewCounts counts tasks by status.
func (s *Store) ReviewCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `select status, count(*) from review_tasks group by status`)
	if err != nil {
		return nil, fmt.Errorf("count reviews: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// ExportLinks writes agency, system, source record id and child id of every
// source record as CSV, ordered so two exports compare line by line.
//
// For a viewer without the shield role (seeShielded false) a restricted
// child's source records are withheld: the child appears once, at the end,
// with its id and "withheld" alone, so the export says neither which
// systems hold the child nor under which record ids. The system and record
// id of a source that stated a sensitive service are never written, for
// any viewer: they would name the service.
func (s *Store) ExportLinks(ctx context.Context, w io.Writer, seeShielded bool) (int, error) {
	rows, err := s.pool.Query(ctx, `select s.agency, s.system, s.record_id, s.child_id, s.withdrawn, s.sensitive,
			coalesce(d.shielded, false)
		from directory_sources s left join directory d on d.child_id = s.child_id
		order by s.agency, s.system, s.record_id`)
	if err != nil {
		return 0, fmt.Errorf("export links: %w", err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"agency", "system", "record_id", "child_id", "withdrawn", "shielded"}); err != nil {
		return 0, err
	}
	n := 0
	withheld := map[uuid.UUID]bool{}
	for rows.Next() {
		var a, sys, rid string
		var id uuid.UUID
		var wd, sensitive, restricted bool
		if err := rows.Scan(&a, &sys, &rid, &id, &wd, &sensitive, &restricted); err != nil {
			return n, fmt.Errorf("export links: %w", err)
		}
		if restricted && !seeShielded {
			withheld[id] = true
			continue
		}
		if sensitive {
			sys, rid = "withheld", "withheld"
		}
		// A leading =, +, - or @ would make a spreadsheet run the cell as a
		// formula; source ids come from agencies, so neutralise them.
		if err := cw.Write([]string{safeCell(a), safeCell(sys), safeCell(rid), id.String(), strconv.FormatBool(wd), strconv.FormatBool(restricted)}); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	ids := make([]string, 0, len(withheld))
	for id := range withheld {
		ids = append(ids, id.String())
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := cw.Write([]string{"withheld", "withheld", "withheld", id, "", "true"}); err != nil {
			return n, err
		}
		n++
	}
	cw.Flush()
	return n, cw.Error()
}

func safeCell(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}
