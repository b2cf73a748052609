package retention

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/childmsg"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/linker"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
	"contactpoint/projections/checkpointed"
	"contactpoint/projections/directory"
)

// deleteMovedStatements reaches the copies of the erased children's
// records that stayed in another child's history when a steward moved the
// records: a split leaves the origin's statements on the origin's subject,
// and an unmerge leaves on the survivor's the merge message that copied the
// restored child's records, and the moved-out event that names them. A
// message is securely deleted when all it says of the other child can be
// said again after it without changing what the child is: its registration
// (whose reason named the record that opened it), a shield no later shield
// event overrides, a pair decided apart. Those are restated first, in one
// new message, then the old one is deleted. A message that says more of the
// other child (a statement of one of its own records, a correction, an
// involvement) stays, and so do the statements and moved-out events it
// needs to come out right; they return how many stay. origins are the
// children linkedTo found.
func (s *Service) deleteMovedStatements(ctx context.Context, origins []uuid.UUID, c copies) (kept int, err error) {
	if len(origins) == 0 {
		return 0, nil
	}
	st, err := s.JS.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		return 0, fmt.Errorf("erase: %w", err)
	}
	for _, o := range origins {
		n, err := s.deleteMovedFrom(ctx, st, o, c)
		if err != nil {
			return kept, err
		}
		kept += n
	}
	return kept, nil
}

// maxLinked bounds how many children linkedTo walks: a record passes through
// a few children at most (a merge, a split, an unmerge), never thousands.
const maxLinked = 1000

// linkedTo returns the children that a steward's or the linker's merges,
// splits and unmerges joined to the erased children, directly or through
// others: every subject a copy of one of their records can be on. A record
// split from A to B and on to C, erased, is stated on A and on B. A child
// erased before keeps, on its tombstone, whom it was joined to
// ('erased-link'): B erased first, C is still found to reach A.
//
// joined are the children joined to them, which their tombstones name;
// apart the children decided apart from them, whose decisions' reasons
// may name them.
func (s *Service) linkedTo(ctx context.Context, erased []uuid.UUID) (joined, apart []uuid.UUID, err error) {
	seen := map[uuid.UUID]bool{}
	for _, id := range erased {
		seen[id] = true
	}
	var out []uuid.UUID
	add := func(q string, ids []uuid.UUID) ([]uuid.UUID, error) {
		rows, err := s.DB.Query(ctx, q, ids)
		if err != nil {
			return nil, fmt.Errorf("erase: linked children: %w", err)
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return nil, fmt.Errorf("erase: linked children: %w", err)
		}
		var fresh []uuid.UUID
		for _, id := range found {
			if !seen[id] {
				seen[id] = true
				fresh = append(fresh, id)
			}
		}
		out = append(out, fresh...)
		return fresh, nil
	}
	frontier := erased
	for len(frontier) > 0 && len(seen) < maxLinked {
		next, err := add(`select child_id from linkage_decisions where kind in ('moved-out', 'absorbed', 'erased-link') and other_id = any($1)
			union select other_id from linkage_decisions where kind in ('moved-out', 'absorbed', 'merged-into', 'unmerged', 'erased-link') and child_id = any($1) and other_id is not null`, frontier)
		if err != nil {
			return nil, nil, err
		}
		frontier = next
	}
	joined = out
	// Then the children decided apart from them: a steward's reason on that
	// decision, on the other child's subject, may name them.
	apart, err = add(`select distinct child_id from linkage_decisions where kind = 'not-linked' and other_id = any($1)`, erased)
	if err != nil {
		return nil, nil, err
	}
	return joined, apart, nil
}

func (s *Service) deleteMovedFrom(ctx context.Context, st jetstream.Stream, origin uuid.UUID, c copies) (kept int, err error) {
	erasedKey := func(k record.SourceKey) bool { return c.sources[k.String()] }
	type message struct {
		seq    uint64
		events []child.Event
	}
	var msgs []message
	// final is the origin as its whole history makes it; held says whether
	// it holds a record after its last event, lastShield where its last
	// shield event is.
	final := child.NewState(origin.String())
	held := holdings{}
	feeds := map[record.SourceKey][]uint64{} // every FEEDS sequence the origin's events name, per record
	lastShield := [2]int{-1, -1}
	var lastMerge *child.Event // its last merge into another child
	err = linker.EachChildMsg(ctx, s.JS, origin, 0, func(m *jetstream.RawStreamMsg) (bool, error) {
		_, b, err := childmsg.Decode(m.Subject, m.Data)
		if err != nil {
			return true, nil // a parked message: nothing of it was applied
		}
		final.Apply(b)
		for i, e := range b.Events {
			held.apply(e)
			e.EachFeedSeq(func(k record.SourceKey, seq uint64) { feeds[k] = append(feeds[k], seq) })
			if e.Type == child.TypeShieldApplied || e.Type == child.TypeShieldLifted {
				lastShield = [2]int{len(msgs), i}
			}
			if e.MergedInto != nil {
				lastMerge = &b.Events[i]
			}
		}
		msgs = append(msgs, message{m.Sequence, b.Events})
		return true, nil
	})
	if err != nil {
		return kept, fmt.Errorf("erase: read %s: %w", origin, err)
	}
	erasedHere := func(k record.SourceKey) bool { return erasedKey(k) && !held[k] }
	var asked []uint64 // messages with a review request the origin's own record raised
	for _, m := range msgs {
		for _, e := range m.events {
			if e.Review != nil && !erasedHere(e.Review.Source) {
				asked = append(asked, e.Review.TaskID(m.seq))
			}
		}
	}
	tasks, err := s.tasksOf(ctx, asked)
	if err != nil {
		return kept, err
	}

	// plan is what becomes of one message: deleted, with events restated
	// first, or kept.
	type plan struct {
		names   bool // it copies or names an erased record
		keep    bool
		restate []child.Event
		// elsewhere are events said again on another child's subject: a
		// review task that followed the origin into the child it was
		// merged into.
		elsewhere map[uuid.UUID][]child.Event
	}
	plans := make([]plan, len(msgs))
	// A record of the origin's own that a deleted message states is said
	// again as the origin holds it at the end (its last statement, the rule
	// that first linked it, whether it is withdrawn), once.
	restated := map[record.SourceKey]bool{}
	// restatement is a record as the origin holds it at the end, naming
	// every FEEDS message the origin's events named for it (a withdrawn
	// record's state keeps only its withdrawal's): erasing the origin
	// later finds them through it.
	restatement := func(ss *child.SourceState) child.Stated {
		stmt := ss.Statement()
		stmt.Earlier = child.EarlierThan(feeds[ss.Source.Key()], stmt.FeedSeq)
		return stmt
	}
	// sayAgain is the events that state the record so: its statement, and
	// its withdrawal if it is withdrawn.
	sayAgain := func(ss *child.SourceState) []child.Event {
		stmt := restatement(ss)
		out := []child.Event{{Type: child.TypeStated, Stated: &stmt}}
		if ss.Withdrawn {
			out = append(out, child.Event{Type: child.TypeWithdrawn, Withdrawn: &child.Withdrawn{Source: ss.Source.Key(), FeedSeq: ss.FeedSeq}})
		}
		return out
	}
	own := func(p *plan, k record.SourceKey, e child.Event) {
		switch {
		case held[k]:
			if restated[k] {
				return
			}
			restated[k] = true
			ss := final.Sources[k]
			if ss == nil {
				p.keep = true
				return
			}
			p.restate = append(p.restate, sayAgain(ss)...)
		case e.MovedOut != nil:
			// Taken off the origin, and not back: taking it off again at
			// the end leaves the origin without it, as now.
			p.restate = append(p.restate, child.Event{Type: e.Type, MovedOut: &child.SourcesMovedOut{Sources: []record.SourceKey{k}, To: e.MovedOut.To, Decision: e.MovedOut.Decision}})
		default:
			// A statement of a record the origin no longer holds: without
			// it the origin still ends without the record.
		}
	}
	// stillMerged says whether the child absorbed in message i is merged
	// into the origin at the end: no later message unmerges it (the
	// survivor's half of an unmerge moves records out to it and decides
	// the pair apart).
	stillMerged := func(i int, absorbed string) bool {
		for _, m := range msgs[i+1:] {
			for _, e := range m.events {
				if (e.MovedOut != nil && e.MovedOut.To == absorbed) || (e.NotLinked != nil && e.NotLinked.Other == absorbed) {
					return false
				}
			}
		}
		return true
	}
	// pinned are erased records stated in a message that stays: the
	// moved-out event that takes them off the origin stays with it.
	pinned := map[record.SourceKey]bool{}
	decide := func(i int, movedOut bool) {
		p := &plans[i]
		for j, e := range msgs[i].events {
			switch {
			case e.Stated != nil || e.Withdrawn != nil:
				k := e.SourcesNamed()[0]
				if erasedHere(k) {
					p.names = true
				} else {
					own(p, k, e)
				}
			case e.Review != nil:
				// A doubt raised by the erased record goes with it. One
				// raised by a record of the origin's is said again as the
				// task stands (tasks), under its first id, on the child
				// it stands on: the origin, or the child a merge took it
				// to. A task whose state is not known keeps the message;
				// one closed by an erasure goes.
				if erasedHere(e.Review.Source) {
					continue
				}
				id := e.Review.TaskID(msgs[i].seq)
				t, ok := tasks[id]
				switch {
				case !ok:
					p.keep = true
					continue
				case t.status == "erased":
					continue
				}
				r := *e.Review
				r.Candidate = t.candidate.String()
				r.Task, r.Decided = id, nil
				if t.status != "open" {
					r.Decided = &child.TaskDecision{Status: t.status, By: t.by, At: t.at, Reason: t.reason}
				}
				ev := child.Event{Type: e.Type, Review: &r}
				if t.child == origin {
					p.restate = append(p.restate, ev)
					continue
				}
				if p.elsewhere == nil {
					p.elsewhere = map[uuid.UUID][]child.Event{}
				}
				p.elsewhere[t.child] = append(p.elsewhere[t.child], ev)
			case e.Absorbed != nil:
				// A merge copy that copied an erased record goes. While the
				// absorbed child is still merged into the origin, the merge
				// is said again with the copies of the records the origin
				// still holds, as it holds them (an unmerge brings back what
				// the last merge copied); once it was unmerged, the records
				// are the origin's own or gone from it, like statements.
				erasedCopy := false
				for _, k := range e.SourcesNamed() {
					erasedCopy = erasedCopy || erasedHere(k)
				}
				if !erasedCopy {
					p.keep = true
					continue
				}
				p.names = true
				if !stillMerged(i, e.Absorbed.Absorbed) {
					for _, k := range e.SourcesNamed() {
						if !erasedHere(k) {
							own(p, k, e)
						}
					}
					continue
				}
				ab := &child.Absorbed{Absorbed: e.Absorbed.Absorbed, Decision: e.Absorbed.Decision}
				for _, k := range e.SourcesNamed() {
					ss := final.Sources[k]
					if erasedHere(k) || !held[k] || ss == nil {
						continue
					}
					ab.Sources = append(ab.Sources, restatement(ss))
					if ss.Withdrawn {
						ab.Withdrawn = append(ab.Withdrawn, k)
					}
				}
				p.restate = append(p.restate, child.Event{Type: e.Type, Absorbed: ab})
			case e.MovedOut != nil:
				if !movedOut {
					continue
				}
				for _, k := range e.MovedOut.Sources {
					switch {
					case erasedHere(k) && !pinned[k]:
						p.names = true
					case erasedHere(k):
						p.keep = true
					default:
						own(p, k, e)
					}
				}
			case e.Type == child.TypeUnmerged && e.Unmerged != nil:
				// The restored child's half of an unmerge: it stands again
				// with only the records given back (child.State clears the
				// rest). Said again at the end, the unmerge is followed by
				// every record the origin holds then, as it holds them, so
				// that the clearing takes nothing it has; a child merged
				// again since holds none, and the unmerge is followed by
				// its last merge, said again too.
				u := *e.Unmerged
				p.restate = append(p.restate, child.Event{Type: e.Type, Unmerged: &u})
				if final.MergedInto != "" {
					if lastMerge == nil {
						p.keep = true
						continue
					}
					m := *lastMerge.MergedInto
					p.restate = append(p.restate, child.Event{Type: lastMerge.Type, MergedInto: &m})
					continue
				}
				for _, k := range heldKeys(final, held) {
					restated[k] = true
					p.restate = append(p.restate, sayAgain(final.Sources[k])...)
				}
			case e.Type == child.TypeRegistered && e.Registered != nil:
				r := *e.Registered
				for k := range c.sources {
					if strings.Contains(r.Reason, k) {
						// "new source record <agency>/<system>/<record id>"
						r.Reason = "opened by a record since erased"
					}
				}
				p.restate = append(p.restate, child.Event{Type: e.Type, Registered: &r})
			case e.Type == child.TypeShieldApplied || e.Type == child.TypeShieldLifted:
				// Said again after every other shield event only if it is
				// the last: an earlier one is overridden either way.
				if lastShield == [2]int{i, j} {
					p.restate = append(p.restate, e)
				}
			case e.NotLinked != nil:
				// A steward's reason that names the erased child is worth
				// restating the message for.
				p.names = p.names || namesValue(e.NotLinked.Reason, c.values)
				p.restate = append(p.restate, e)
			default:
				p.keep = true
			}
		}
	}
	isMovedOut := func(m message) bool {
		for _, e := range m.events {
			if e.MovedOut != nil {
				return true
			}
		}
		return false
	}
	// Statements first, so that the moved-out events know which erased
	// records stay stated; restated records are tried again on the second
	// pass only for messages that are really deleted.
	for i, m := range msgs {
		if isMovedOut(m) {
			continue
		}
		decide(i, false)
		if p := plans[i]; p.names && p.keep {
			for _, e := range m.events {
				for _, k := range e.SourcesNamed() {
					pinned[k] = true
				}
			}
		}
	}
	for i, m := range msgs {
		if isMovedOut(m) {
			decide(i, true)
		}
	}
	// The FEEDS messages of the erased records' statements while the
	// origin held them are the erased child's too, whether or not the
	// CHILDREN message that stated them can go.
	var others []uint64
	for _, m := range msgs {
		for _, e := range m.events {
			e.EachFeedSeq(func(k record.SourceKey, seq uint64) {
				switch {
				case erasedHere(k):
					c.feedSeqs[seq] = true
				case e.Withdrawn != nil:
					others = append(others, seq)
				}
			})
		}
	}
	if err := s.addMergeMessages(ctx, others, c); err != nil {
		return kept, err
	}
	now := s.now().UTC()
	for i, m := range msgs {
		p := plans[i]
		switch {
		case !p.names:
			continue
		case p.keep:
			kept++
			continue
		}
		// Restated before the delete: a crash between the two leaves both,
		// and the next run deletes the old one (restating what it restated
		// again, which changes nothing).
		others := slices.SortedFunc(maps.Keys(p.elsewhere), func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		for _, id := range append(others, origin) {
			events := p.elsewhere[id]
			if id == origin {
				events = p.restate
			}
			if len(events) == 0 {
				continue
			}
			for j := range events {
				events[j].At = now
				scrubReason(&events[j], c.values)
			}
			if err := s.Linker.Restate(ctx, id, events); err != nil {
				return kept, fmt.Errorf("erase: restate on %s: %w", id, err)
			}
		}
		if err := secureDelete(ctx, st, m.seq); err != nil {
			return kept, fmt.Errorf("erase: delete CHILDREN %d: %w", m.seq, err)
		}
	}
	delete(c.feedSeqs, 0)
	return kept, nil
}

// withheld replaces a steward's reason, restated at an erasure, that
// named one of the erased child's values.
const withheld = "reason withheld: it named an erased child"

// scrubReason withholds the free-text reason of a restated decision when it
// holds one of the erased child's names, identifiers or postcodes: a
// steward may have written "same girl as <name>".
func scrubReason(e *child.Event, values map[string]bool) {
	var d *child.Decision
	switch {
	case e.NotLinked != nil:
		d = &e.NotLinked.Decision
	case e.MovedOut != nil:
		d = &e.MovedOut.Decision
	case e.Absorbed != nil:
		d = &e.Absorbed.Decision
	case e.Unmerged != nil:
		d = &e.Unmerged.Decision
	case e.MergedInto != nil:
		d = &e.MergedInto.Decision
	case e.Review != nil && e.Review.Decided != nil:
		if namesValue(e.Review.Decided.Reason, values) {
			e.Review.Decided.Reason = withheld
		}
		return
	default:
		return
	}
	if namesValue(d.Reason, values) {
		d.Reason = withheld
	}
}

// namesValue says whether a free text holds one of the values.
func namesValue(text string, values map[string]bool) bool {
	if text == "" {
		return false
	}
	low := strings.ToLower(text)
	for v := range values {
		if len(v) > 1 && strings.Contains(low, v) {
			return true
		}
	}
	return false
}

// task is a review task as the directory holds it.
type task struct {
	child, candidate uuid.UUID
	status, by       string
	at               time.Time
	reason           string
}

// projectionWait bounds how long an erasure waits for the directory to
// catch up before it reads the review tasks it restates; a directory that
// lags longer leaves their messages in place (they are counted as kept).
const projectionWait = 10 * time.Second

// tasksOf reads the review tasks first requested in the messages, once
// the directory has applied every CHILDREN message there is now: a task's
// state depends on decisions in other children's histories too, and the
// directory is where they meet.
func (s *Service) tasksOf(ctx context.Context, seqs []uint64) (map[uint64]task, error) {
	out := map[uint64]task{}
	if len(seqs) == 0 {
		return out, nil
	}
	last, err := natsjs.LastSeq(ctx, s.JS, natsjs.StreamChildren)
	if err != nil {
		return nil, fmt.Errorf("erase: %w", err)
	}
	caught, err := checkpointed.Await(ctx, s.DB, directory.Name, last, projectionWait)
	if err != nil {
		return nil, fmt.Errorf("erase: %w", err)
	}
	if !caught {
		return out, nil
	}
	ids := make([]int64, len(seqs))
	for i, q := range seqs {
		ids[i] = int64(q)
	}
	rows, err := s.DB.Query(ctx, `select task_id, child_id, candidate_id, status, coalesce(decided_by, ''), coalesce(decided_at, requested_at), coalesce(reason, '')
		from review_tasks where task_id = any($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("erase: review tasks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var t task
		if err := rows.Scan(&id, &t.child, &t.candidate, &t.status, &t.by, &t.at, &t.reason); err != nil {
			return nil, fmt.Errorf("erase: review tasks: %w", err)
		}
		out[uint64(id)] = t
	}
	return out, rows.Err()
}

// heldKeys returns the records the child holds at the end, in a fixed order.
func heldKeys(final *child.State, held holdings) []record.SourceKey {
	var ks []record.SourceKey
	for k := range final.Sources {
		if held[k] {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b record.SourceKey) int { return strings.Compare(a.String(), b.String()) })
	return ks
}

// holdings says which source records a child holds, event by event.
type holdings map[record.SourceKey]bool

func (h holdings) apply(e child.Event) {
	switch {
	case e.Stated != nil:
		h[e.Stated.Source.Key()] = true
	case e.Absorbed != nil:
		for _, a := range e.Absorbed.Sources {
			h[a.Source.Key()] = true
		}
	case e.MovedOut != nil:
		for _, k := range e.MovedOut.Sources {
			h[k] = false
		}
	case e.MergedInto != nil:
		// Its records went to the survivor: it holds none.
		for k := range h {
			h[k] = false
		}
	}
}

// addMergeMessages adds to the copies the FEEDS messages, among seqs, that
// one of the erased records sent. A source that merges two of its records
// sends one message, the surviving record's, and the linker records it as
// the other record's withdrawal: when the other record is not the erased
// child's, its withdrawal still points at the erased record's message.
func (s *Service) addMergeMessages(ctx context.Context, seqs []uint64, c copies) error {
	if len(seqs) == 0 {
		return nil
	}
	feeds, err := s.JS.Stream(ctx, natsjs.StreamFeeds)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	for _, seq := range seqs {
		if seq == 0 || c.feedSeqs[seq] {
			continue
		}
		m, err := feeds.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("erase: read FEEDS %d: %w", seq, err)
		}
		rec, err := linker.DecodeFeedMsg(m.Subject, m.Data)
		if err != nil {
			continue // parked: the linker applied nothing of it
		}
		if c.sources[rec.Source.Key().String()] {
			c.feedSeqs[seq] = true
		}
	}
	return nil
}
