package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	domainaudit "contactpoint/domain/audit"
)

// Store answers auditors' questions over audit_events.
type Store struct{ pool *pgxpool.Pool }

// NewStore returns the auditors' query store.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Range bounds a query: From inclusive, To exclusive; zero means open.
type Range struct {
	From, To time.Time
	Limit    int // default and maximum 10,000
}

// Row is one audit entry with the actor's name and organisation from the
// register, for the auditor's report.
type Row struct {
	Seq          int64             `json:"seq"`
	At           time.Time         `json:"at"`
	Action       string            `json:"action"`
	Outcome      string            `json:"outcome"`
	Actor        string            `json:"actor,omitempty"`
	ActorName    string            `json:"actor_name,omitempty"`
	Organisation string            `json:"organisation,omitempty"`
	Roles        []string          `json:"roles,omitempty"`
	System       string            `json:"system,omitempty"`
	Route        string            `json:"route,omitempty"`
	Status       int               `json:"status,omitempty"`
	Reason       string            `json:"reason,omitempty"`
	Subject      string            `json:"subject,omitempty"`
	Criteria     map[string]string `json:"criteria,omitempty"`
	Children     []string          `json:"children,omitempty"`
	// Answer is what a record view was answered from (see audit.Answer).
	Answer *domainaudit.Answer `json:"answer,omitempty"`
}

const maxRows = 10000

// ErrNoEntry is returned for an audit sequence the trail does not hold.
var ErrNoEntry = errors.New("no such audit entry")

// Entry returns one audit entry by its AUDIT sequence.
func (s *Store) Entry(ctx context.Context, seq int64) (Row, error) {
	rows, err := s.query(ctx, "a.seq = $1::bigint", strconv.FormatInt(seq, 10), Range{})
	if err != nil {
		return Row{}, err
	}
	if len(rows) == 0 {
		return Row{}, ErrNoEntry
	}
	return rows[0], nil
}

// ByChild is the subject access request: every entry that returned or
// showed the child, or was about it, oldest first.
func (s *Store) ByChild(ctx context.Context, childID string, r Range) ([]Row, error) {
	return s.query(ctx, "(a.children @> array[$1]::text[] or a.subject = $1)", childID, r)
}

// ByActor is everything a practitioner did, oldest first.
func (s *Store) ByActor(ctx context.Context, actor string, r Range) ([]Row, error) {
	return s.query(ctx, "a.actor = $1", actor, r)
}

func (s *Store) query(ctx context.Context, where, id string, r Range) ([]Row, error) {
	if r.Limit <= 0 || r.Limit > maxRows {
		r.Limit = maxRows
	}
	if r.To.IsZero() {
		r.To = time.Now().Add(time.Hour)
	}
	rows, err := s.pool.Query(ctx, `select a.seq, a.at, a.action, a.outcome, a.actor, coalesce(p.state->>'name', ''),
		  coalesce(p.state->>'organisation', ''), a.roles, a.system, a.route, a.status, a.reason, a.subject, a.criteria, a.children, a.answer
		from audit_events a left join practitioners p on p.id::text = a.actor
		where `+where+` and a.at >= $2 and a.at < $3 order by a.seq limit $4`, id, r.From, r.To, r.Limit)
	if err != nil {
		return nil, fmt.Errorf("audit query: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Row, error) {
		var o Row
		var crit, answer []byte
		err := row.Scan(&o.Seq, &o.At, &o.Action, &o.Outcome, &o.Actor, &o.ActorName, &o.Organisation, &o.Roles, &o.System,
			&o.Route, &o.Status, &o.Reason, &o.Subject, &crit, &o.Children, &answer)
		if err == nil && len(crit) > 0 {
			err = json.Unmarshal(crit, &o.Criteria)
		}
		if err == nil && len(answer) > 0 {
			o.Answer = new(domainaudit.Answer)
			err = json.Unmarshal(answer, o.Answer)
		}
		return o, err
	})
}

// CSVHeader names the columns of WriteCSV.
var CSVHeader = []string{"seq", "at", "action", "outcome", "actor", "actor_name", "organisation", "roles", "system",
	"route", "status", "reason", "subject", "criteria", "children"}

// WriteCSV writes rows as CSV. Cells that a spreadsheet would run as a
// formula are prefixed with a quote: criteria are what callers typed.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range rows {
		crit, _ := json.Marshal(r.Criteria)
		if r.Criteria == nil {
			crit = nil
		}
		rec := []string{strconv.FormatInt(r.Seq, 10), r.At.UTC().Format(time.RFC3339Nano), r.Action, r.Outcome, r.Actor,
			r.ActorName, r.Organisation, strings.Join(r.Roles, " "), r.System, r.Route, strconv.Itoa(r.Status), r.Reason,
			r.Subject, string(crit), strings.Join(r.Children, " ")}
		for i, c := range rec {
			rec[i] = defuse(c)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
