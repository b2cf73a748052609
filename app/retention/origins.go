package retention

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/childmsg"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/linker"
	"contactpoint/domain/record"
)

// deleteMovedStatements reaches the statements of the erased children's
// records that stayed in another child's history when a steward moved the
// records to them: a split leaves the origin's source.stated messages on
// the origin's subject, and an unmerge leaves them on the survivor's. A
// message is securely deleted when every event in it is a statement or
// withdrawal of one of the erased children's records, or a merge that
// copied only such records, that its subject no longer holds: it is no
// fact of the other child any more, whose state, index and projection rows
// come out the same without it. Messages that also say something of the
// other child (the moved-out event, a shield the merge carried, a
// registration beside the statement) stay; they return how many.
func (s *Service) deleteMovedStatements(ctx context.Context, erased []uuid.UUID, c copies) (kept int, err error) {
	rows, err := s.DB.Query(ctx, `select distinct child_id from linkage_decisions
		where kind in ('moved-out', 'absorbed') and other_id = any($1) and not child_id = any($1)`, erased)
	if err != nil {
		return 0, fmt.Errorf("erase: origins: %w", err)
	}
	var origins []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("erase: origins: %w", err)
		}
		origins = append(origins, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("erase: origins: %w", err)
	}
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

func (s *Service) deleteMovedFrom(ctx context.Context, st jetstream.Stream, origin uuid.UUID, c copies) (kept int, err error) {
	erasedKey := func(k record.SourceKey) bool { return c.sources[k.Agency+"/"+k.System+"/"+k.RecordID] }
	// held says whether the origin holds the record after its last event.
	held := map[record.SourceKey]bool{}
	var only []uint64 // messages of statements of erased records alone
	namesOf := map[uint64][]record.SourceKey{}
	err = linker.EachChildMsg(ctx, s.JS, origin, 0, func(m *jetstream.RawStreamMsg) (bool, error) {
		_, b, err := childmsg.Decode(m.Subject, m.Data)
		if err != nil {
			return true, nil // a parked message: nothing of it was applied
		}
		alone, names := true, []record.SourceKey(nil)
		for _, e := range b.Events {
			var k record.SourceKey
			switch {
			case e.Stated != nil:
				k = e.Stated.Source.Key()
				held[k] = true
			case e.Withdrawn != nil:
				k = e.Withdrawn.Source
			case e.Absorbed != nil:
				// A merge copies the absorbed child's statements onto the
				// survivor. When every record it copied is an erased
				// child's, the event is of that child alone: an unmerge
				// took the records back, and the check below keeps it
				// while the survivor still holds any of them.
				own := len(e.Absorbed.Sources) > 0
				for _, a := range e.Absorbed.Sources {
					held[a.Source.Key()] = true
					if erasedKey(a.Source.Key()) {
						names = append(names, a.Source.Key())
					} else {
						own = false
					}
				}
				for _, k := range e.Absorbed.Withdrawn {
					own = own && erasedKey(k)
				}
				if !own {
					alone = false
				}
				continue
			case e.MovedOut != nil:
				for _, mk := range e.MovedOut.Sources {
					held[mk] = false
				}
				alone = false
				continue
			case e.MergedInto != nil:
				// The origin's records went to its survivor: it holds none.
				for k := range held {
					held[k] = false
				}
				alone = false
				continue
			default:
				alone = false
				continue
			}
			if erasedKey(k) {
				names = append(names, k)
			} else {
				alone = false
			}
		}
		switch {
		case len(names) == 0:
		case alone:
			only = append(only, m.Sequence)
			namesOf[m.Sequence] = names
		default:
			kept++
		}
		return true, nil
	})
	if err != nil {
		return kept, fmt.Errorf("erase: read %s: %w", origin, err)
	}
	for _, seq := range only {
		still := false
		for _, k := range namesOf[seq] {
			still = still || held[k]
		}
		if still {
			// The record came back to the origin: the statement is its own.
			continue
		}
		if err := secureDelete(ctx, st, seq); err != nil {
			return kept, fmt.Errorf("erase: delete CHILDREN %d: %w", seq, err)
		}
	}
	return kept, nil
}
