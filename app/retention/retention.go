// Package retention applies the law's end of a record (domain/retention):
// it archives children, records the exceptions, and erases a child's
// personal data from every copy the hub keeps — the child's CHILDREN
// subjects, its source records in FEEDS, its QUARANTINE entries, the
// directory's tables, notifications and the criteria of audit entries that
// named it, down to the bytes in PostgreSQL's files (rewrite.go) — while
// the audit trail keeps proving that the child existed,
// who looked, and when and by which rule it was erased.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/app/childlog"
	"contactpoint/app/linker"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
	"contactpoint/domain/retention"
	"contactpoint/projections/directory"
)

// By names the scheduler on the events and audit entries it writes.
const By = "hub/retention"

// lockKey is the advisory lock that lets one instance at a time run the
// lifecycle: two instances archiving the same child would only append a
// second archive event, but two erasing it would race their deletes.
const lockKey = 0x43505265744c6f63 // "CPRetLoc"

// ErrBusy is returned when another instance holds the lifecycle lock.
var ErrBusy = errors.New("another instance is running the lifecycle")

// Service runs the lifecycle.
type Service struct {
	JS       jetstream.JetStream
	DB       *pgxpool.Pool
	Store    *directory.Store
	Children *childlog.Log
	Linker   *linker.Linker
	Audit    audit.Recorder
	Log      *slog.Logger
	// Now is the hub's clock; nil is time.Now.
	Now func() time.Time
	// Zone is where the law's days are counted; nil is Europe/London.
	Zone *time.Location
	// Rebuild rebuilds a projection beside its live version and switches
	// to it, on whichever instance runs the projection; an erasure needs
	// it to take the child's bytes out of the tables' files (Rewrite).
	Rebuild func(ctx context.Context, projection string) error
}

// Today is the civil date of the hub's clock in its zone.
func (s *Service) Today() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	loc := s.Zone
	if loc == nil {
		var err error
		if loc, err = time.LoadLocation(retention.DefaultZone); err != nil {
			loc = time.UTC
		}
	}
	return retention.Day(now(), loc)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Item is one action due: ids, rules and days only.
type Item struct {
	ChildID string `json:"child_id"`
	Action  string `json:"action"`
	Rule    string `json:"rule"`
	DueOn   string `json:"due_on"`
	Reason  string `json:"reason"`
	Done    bool   `json:"done,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Report is what a run did (or, dry, would do).
type Report struct {
	Day    string `json:"day"`
	DryRun bool   `json:"dry_run"`
	Items  []Item `json:"items"`
	// Rewrite is the step after the erasures that writes the tables that
	// held the children's data to new files; nil when none was waiting.
	Rewrite *RewriteReport `json:"rewrite,omitempty"`
}

// Plan lists what is due today.
func (s *Service) Plan(ctx context.Context) ([]Item, error) {
	today := s.Today()
	lives, err := s.Store.RetentionCandidates(ctx, today)
	if err != nil {
		return nil, err
	}
	var out []Item
	for _, l := range lives {
		d := retention.Decide(l.Facts, today)
		if d.Action == retention.None {
			continue
		}
		out = append(out, Item{ChildID: l.ChildID.String(), Action: d.Action, Rule: d.Rule, DueOn: retention.Format(d.On), Reason: d.Reason})
	}
	return out, nil
}

// Run applies what is due today, under the lifecycle lock. It is
// idempotent: what is done is recorded in retention_runs, and the rules
// see an archived child as waiting for erasure and an erased one as done.
// A dry run takes no lock and changes nothing.
func (s *Service) Run(ctx context.Context, dryRun bool) (Report, error) {
	rep := Report{Day: retention.Format(s.Today()), DryRun: dryRun}
	if !dryRun {
		conn, err := s.DB.Acquire(ctx)
		if err != nil {
			return rep, fmt.Errorf("lifecycle: %w", err)
		}
		defer conn.Release()
		var got bool
		if err := conn.QueryRow(ctx, `select pg_try_advisory_lock($1)`, int64(lockKey)).Scan(&got); err != nil {
			return rep, fmt.Errorf("lifecycle: lock: %w", err)
		}
		if !got {
			return rep, ErrBusy
		}
		defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `select pg_advisory_unlock($1)`, int64(lockKey)) }()
	}
	items, err := s.Plan(ctx)
	if err != nil {
		return rep, err
	}
	for _, it := range items {
		if !dryRun {
			id := uuid.MustParse(it.ChildID)
			day, _ := retention.ParseDay(it.DueOn)
			switch it.Action {
			case retention.Archive:
				err = s.Archive(ctx, id, it.Rule, it.Reason, day)
			case retention.Erase:
				err = s.Erase(ctx, id, it.Rule, it.Reason, By)
			}
			if err != nil {
				// Ids and kinds only: the error of one child does not stop
				// the others, and is tried again on the next run.
				it.Error = errorKind(err)
				s.Log.Error("lifecycle action failed", "child", it.ChildID, "action", it.Action, "err", err)
			} else {
				it.Done = true
			}
		}
		rep.Items = append(rep.Items, it)
	}
	if dryRun {
		pending, err := s.pendingRewrite(ctx)
		if err != nil {
			return rep, err
		}
		if n := len(pending) + countErase(rep.Items); n > 0 {
			rep.Rewrite = &RewriteReport{Children: n}
		}
		return rep, nil
	}
	rw, err := s.Rewrite(ctx)
	if rw.Children > 0 {
		rep.Rewrite = &rw
	}
	if err != nil {
		// Tried again by the next run: the children stay pending.
		rw.Error = errorKind(err)
		rep.Rewrite = &rw
		s.Log.Error("lifecycle: rewriting the tables after an erasure failed", "children", rw.Children, "err", err)
	}
	return rep, nil
}

func countErase(items []Item) int {
	n := 0
	for _, it := range items {
		if it.Action == retention.Erase {
			n++
		}
	}
	return n
}

func errorKind(err error) string {
	switch {
	case errors.Is(err, linker.ErrNotReady):
		return "linker-not-ready"
	case errors.Is(err, audit.ErrUnavailable):
		return "audit-unavailable"
	}
	return "failed"
}

// done reports whether the action was recorded for the child already.
func (s *Service) done(ctx context.Context, id uuid.UUID, action string) (bool, error) {
	var n int
	if err := s.DB.QueryRow(ctx, `select count(*) from retention_runs where child_id = $1 and action = $2`, id, action).Scan(&n); err != nil {
		return false, fmt.Errorf("lifecycle: %w", err)
	}
	return n > 0, nil
}

func (s *Service) record(ctx context.Context, id uuid.UUID, action, rule string, due time.Time) error {
	if _, err := s.DB.Exec(ctx, `insert into retention_runs (child_id, action, rule, due_on) values ($1, $2, $3, $4) on conflict do nothing`,
		id, action, rule, due); err != nil {
		return fmt.Errorf("lifecycle: %w", err)
	}
	return nil
}

// Archive takes the child out of ordinary search and views.
func (s *Service) Archive(ctx context.Context, id uuid.UUID, rule, reason string, due time.Time) error {
	if ok, err := s.done(ctx, id, retention.Archive); err != nil || ok {
		return err
	}
	on := s.Today()
	if err := s.Audit.Record(ctx, audit.Entry{Action: audit.ActRetention, Actor: By, Subject: id.String(), Reason: "archived:" + rule,
		Criteria: map[string]string{"action": retention.Archive, "rule": rule, "on": retention.Format(on)}}); err != nil {
		return err
	}
	if _, _, err := s.Children.Append(ctx, id, []child.Event{{Type: child.TypeArchived, At: s.now(),
		Archived: &child.Archived{On: retention.Format(on), Rule: rule, Reason: reason, By: By}}}); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return s.record(ctx, id, retention.Archive, rule, due)
}

// Exception records a care leaver's consent or its withdrawal, a death, or
// a legal hold or its release, on the child's own stream. It returns the
// child it landed on (a merged child's survivor).
func (s *Service) Exception(ctx context.Context, id uuid.UUID, ex child.RetentionException) (uuid.UUID, error) {
	if !retention.ValidException(ex.Kind) {
		return uuid.Nil, fmt.Errorf("retention exception: unknown kind")
	}
	if ex.Kind == retention.ExDeath {
		if _, err := retention.ParseDay(ex.Date); err != nil {
			return uuid.Nil, fmt.Errorf("retention exception: a death needs its date (YYYY-MM-DD)")
		}
	}
	if err := s.Audit.Record(ctx, audit.Entry{Action: audit.ActRetention, Actor: ex.By, Subject: id.String(), Reason: "exception:" + ex.Kind,
		Criteria: map[string]string{"kind": ex.Kind}}); err != nil {
		return uuid.Nil, err
	}
	target, _, err := s.Children.Append(ctx, id, []child.Event{{Type: child.TypeRetentionException, At: s.now(), Retention: &ex}})
	if err != nil {
		return uuid.Nil, fmt.Errorf("retention exception: %w", err)
	}
	return target, nil
}

// copies is what the hub keeps of one child besides its directory rows.
type copies struct {
	children []uuid.UUID // the child and every child merged into it
	feedSeqs map[uint64]bool
	sources  map[string]bool // "<agency>/<system>/<record id>"
	idents   []string        // NHS numbers and UPNs, for quarantine entries
	// values are the child's names, identifiers and postcodes as a search
	// would type them (lower case), to find audit entries whose criteria
	// name the child without having returned it.
	values map[string]bool
}

func (s *Service) collect(ctx context.Context, id uuid.UUID) (copies, error) {
	c := copies{feedSeqs: map[uint64]bool{}, sources: map[string]bool{}, values: map[string]bool{}}
	hist, err := s.Children.History(ctx, id)
	if err != nil {
		return c, fmt.Errorf("erase: read history: %w", err)
	}
	// The history weaves in the children merged into this one now (a child
	// a steward unmerged stands again, with her own history): they are its
	// children. Its records are those its own subject holds after its last
	// event (the merged children's came to it as copies in their absorbed
	// events); records split off belong to the child they went to, and
	// erasing this child takes none of theirs.
	c.children = append(c.children, id)
	kids := map[string]bool{id.String(): true}
	for _, r := range hist {
		if !kids[r.ChildID] {
			kids[r.ChildID] = true
			c.children = append(c.children, uuid.MustParse(r.ChildID))
		}
	}
	held := holdings{}
	for _, r := range hist {
		if r.ChildID == id.String() {
			held.apply(r.Event)
		}
	}
	seen := map[string]bool{}
	var others []uint64 // withdrawals of records it does not hold
	stated := func(st *child.Stated) {
		k := st.Source.Key()
		if !held[k] {
			return
		}
		c.feedSeqs[st.FeedSeq] = true
		for _, f := range st.Earlier {
			c.feedSeqs[f] = true
		}
		c.sources[k.Agency+"/"+k.System+"/"+k.RecordID] = true
		for _, v := range []string{st.Child.Name.Given, st.Child.Name.Family, st.Child.Name.Middle} {
			if v != "" {
				c.values[strings.ToLower(v)] = true
			}
		}
		for _, n := range st.Child.PreviousNames {
			c.values[strings.ToLower(n.Family)], c.values[strings.ToLower(n.Given)] = true, true
		}
		if a := st.Child.Address; a != nil && a.Postcode != "" {
			c.values[strings.ToLower(a.Postcode)] = true
		}
		if ids := st.Child.Identifiers; ids != nil {
			for _, v := range []string{ids.NHSNumber, ids.UPN} {
				if v == "" {
					continue
				}
				c.values[strings.ToLower(v)] = true
				if !seen[v] {
					seen[v] = true
					c.idents = append(c.idents, v)
				}
			}
		}
	}
	for _, r := range hist {
		if !kids[r.ChildID] {
			continue
		}
		e := r.Event
		switch {
		case e.Stated != nil:
			stated(e.Stated)
		case e.Withdrawn != nil:
			if held[e.Withdrawn.Source] {
				c.feedSeqs[e.Withdrawn.FeedSeq] = true
			} else {
				others = append(others, e.Withdrawn.FeedSeq)
			}
		case e.Absorbed != nil:
			for i := range e.Absorbed.Sources {
				stated(&e.Absorbed.Sources[i])
			}
		}
	}
	if err := s.addMergeMessages(ctx, others, c); err != nil {
		return c, err
	}
	delete(c.feedSeqs, 0)
	return c, nil
}

// Erase erases the child's personal data from every copy the hub keeps.
// The audit entry comes first (no entry, no erasure), then the tombstones
// through the linker (the directory and any rebuild now show the child
// erased, and the index forgets it), then the deletes. Each step can be
// run again: a crash part-way is finished by the next run.
//
// JetStream copies are removed with secure deletes, which overwrite each
// message in its block with random bytes: an ordinary delete or a purge
// only marks it deleted until the block is compacted.
func (s *Service) Erase(ctx context.Context, id uuid.UUID, rule, reason, by string) error {
	if ok, err := s.done(ctx, id, retention.Erase); err != nil || ok {
		return err
	}
	_, life, err := s.Store.GetArchived(ctx, id)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	c, err := s.collect(ctx, id)
	if err != nil {
		return err
	}
	ids := make([]string, len(c.children))
	for i, k := range c.children {
		ids[i] = k.String()
	}
	if err := s.Audit.Record(ctx, audit.Entry{Action: audit.ActRetention, Actor: by, Subject: id.String(), Reason: "erased:" + rule,
		Criteria: map[string]string{"action": retention.Erase, "rule": rule, "children": strings.Join(ids, ",")}}); err != nil {
		return err
	}
	er := child.Erased{Rule: rule, Reason: reason, By: by}
	if !life.ArchivedOn.IsZero() {
		er.ArchivedOn = retention.Format(life.ArchivedOn)
	}
	joined, apart, err := s.linkedTo(ctx, c.children)
	if err != nil {
		return err
	}
	for _, l := range joined {
		er.Linked = append(er.Linked, l.String())
	}
	tombs, err := s.Linker.Erase(ctx, c.children, er)
	if err != nil {
		return fmt.Errorf("erase: tombstone: %w", err)
	}
	// The child's own subject goes last: it is what collect reads, so a
	// run that stops part-way finds again, on the next run, every copy
	// still to delete.
	kept, err := s.deleteMovedStatements(ctx, slices.Concat(joined, apart), c)
	if err != nil {
		return err
	}
	if kept > 0 {
		// Counts only: README says what these messages keep.
		s.Log.Warn("erasure: other children's events still name the erased child's records", "child", id, "messages", kept)
	}
	if err := s.deleteFeeds(ctx, c.feedSeqs); err != nil {
		return err
	}
	if err := s.deleteQuarantine(ctx, c); err != nil {
		return err
	}
	if err := s.clearDatabase(ctx, ids, c.values); err != nil {
		return err
	}
	for _, k := range c.children {
		if err := s.deleteSubject(ctx, k, tombs[k]); err != nil {
			return err
		}
	}
	var due time.Time
	if !life.ArchivedOn.IsZero() {
		due = retention.EraseDay(life.ArchivedOn)
	} else {
		due = s.Today()
	}
	return s.record(ctx, id, retention.Erase, rule, due)
}

// secureDelete deletes one message so that its bytes are overwritten. A
// message already gone (an earlier erasure, or a run that stopped after the
// delete) is done. nats.go reports a refused delete as text only, so a
// refusal is checked by reading the message.
func secureDelete(ctx context.Context, st jetstream.Stream, seq uint64) error {
	err := st.SecureDeleteMsg(ctx, seq)
	if err == nil || errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
		if _, gerr := st.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return nil
		}
	}
	return err
}

// deleteSubject securely deletes every message of the child's subject
// before its tombstone.
func (s *Service) deleteSubject(ctx context.Context, id uuid.UUID, tomb uint64) error {
	st, err := s.JS.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	err = linker.EachChildMsg(ctx, s.JS, id, 0, func(m *jetstream.RawStreamMsg) (bool, error) {
		if m.Sequence >= tomb {
			return false, nil
		}
		if err := secureDelete(ctx, st, m.Sequence); err != nil {
			return false, fmt.Errorf("delete CHILDREN %d: %w", m.Sequence, err)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	return nil
}

func (s *Service) deleteFeeds(ctx context.Context, seqs map[uint64]bool) error {
	st, err := s.JS.Stream(ctx, natsjs.StreamFeeds)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	for seq := range seqs {
		if err := secureDelete(ctx, st, seq); err != nil {
			return fmt.Errorf("erase: delete FEEDS %d: %w", seq, err)
		}
	}
	return nil
}

// deleteQuarantine securely deletes the child's refused input: entries of
// one of its source records (the entry's agency and system, header
// Cp-Record-Id) or whose bytes hold one of its identifiers. Resolution
// markers hold sequences and ids only and stay.
func (s *Service) deleteQuarantine(ctx context.Context, c copies) error {
	st, err := s.JS.Stream(ctx, natsjs.StreamQuarantine)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	var forms []string
	for _, v := range c.idents {
		forms = append(forms, v)
		if len(v) == 10 && strings.Trim(v, "0123456789") == "" {
			forms = append(forms, v[:3]+" "+v[3:6]+" "+v[6:]) // NHS numbers as people write them
		}
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("erase: read quarantine: %w", err)
		}
		if strings.HasPrefix(m.Subject, "quarantine.resolved.") {
			continue
		}
		hit := false
		if parts := strings.SplitN(m.Subject, ".", 3); len(parts) == 3 {
			if rid := m.Header.Get(natsjs.HeaderRecordID); rid != "" && c.sources[parts[1]+"/"+parts[2]+"/"+rid] {
				hit = true
			}
		}
		for _, f := range forms {
			if !hit && strings.Contains(string(m.Data), f) {
				hit = true
			}
		}
		if hit {
			if err := secureDelete(ctx, st, m.Sequence); err != nil {
				return fmt.Errorf("erase: delete QUARANTINE %d: %w", m.Sequence, err)
			}
		}
	}
	return nil
}

// clearDatabase destroys the keys of audit entries that named the children,
// or whose criteria hold one of the child's names, identifiers or postcodes
// (a search that found nobody), and clears those criteria from the audit
// projection; and drops the children's notification rows. The entries stay,
// with their ids, actors, routes and times: the trail still proves who
// looked. The directory's own tables are cleared by the projection as it
// applies the tombstones, so a rebuild clears them too.
func (s *Service) clearDatabase(ctx context.Context, ids []string, values map[string]bool) error {
	erased, _ := json.Marshal(map[string]string{"erased": "criteria erased with the child's personal data"})
	vals := make([]string, 0, len(values))
	for v := range values {
		if v != "" {
			vals = append(vals, v)
		}
	}
	tx, err := s.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("erase: database: %w", err)
	}
	defer tx.Rollback(ctx)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`with e as (
				select id from audit_events where action <> 'retention' and jsonb_typeof(criteria) = 'object' and criteria <> '{}'::jsonb and (children && $1
					or exists (select 1 from jsonb_each_text(criteria) c where lower(c.value) = any($2) or lower(replace(c.value, ' ', '')) = any($2)))
				union select entry_id from audit_keys where children && $1),
			k as (delete from audit_keys where entry_id in (select id from e))
			update audit_events set criteria = $3 where id in (select id from e)`, []any{ids, append(vals, compact(vals)...), erased}},
		{`delete from notifications where ref = any($1)`, []any{ids}},
	} {
		if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("erase: database: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("erase: database: %w", err)
	}
	return nil
}

// compact is each value without spaces (postcodes and NHS numbers are
// typed both ways).
func compact(vals []string) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if c := strings.ReplaceAll(v, " ", ""); c != v {
			out = append(out, c)
		}
	}
	return out
}
