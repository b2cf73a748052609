package directory

import (
	"sync"

	"github.com/google/uuid"

	"contactpoint/domain/child"
)

// stateCacheSize bounds the child states kept between batches: a pilot
// area fits whole; a larger one keeps its recently touched children.
const stateCacheSize = 200_000

// stateCache keeps the states of recently projected children, so that a
// batch need not read and decode from the database the state it wrote a
// moment ago. Only committed states are put in it, and any failure empties
// it, so it never holds what the database does not.
type stateCache struct {
	mu sync.Mutex
	m  map[uuid.UUID]*child.State
}

func (c *stateCache) take(ids []uuid.UUID) (found map[uuid.UUID]*touched, missing []uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	found = make(map[uuid.UUID]*touched, len(ids))
	for _, id := range ids {
		if st, ok := c.m[id]; ok {
			// Taken out while the batch works on it: a failed batch leaves
			// no half-applied state behind.
			delete(c.m, id)
			found[id] = &touched{state: st}
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing
}

func (c *stateCache) put(states map[uuid.UUID]*touched) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(states) > stateCacheSize {
		// Emptying beats keeping recency order for a cache that is refilled
		// by the next batches at the cost of one query each.
		c.m = make(map[uuid.UUID]*child.State, len(states))
	}
	for id, t := range states {
		c.m[id] = t.state
	}
}

func (c *stateCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}
