package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/domain/access"
	"contactpoint/domain/registry"
)

// Agency keys verified against PostgreSQL are remembered in memory, so that
// intake does not read the database on every request and goes on taking
// records through a PostgreSQL outage. A remembered key is checked again
// after KeyFresh; while the database does not answer it is honoured up to
// KeyStale. Revocation does not wait for either: every instance follows
// the REGISTRY stream (WatchKeys) and forgets a revoked key at once.
const (
	KeyFresh = 30 * time.Second
	KeyStale = time.Hour
)

type cachedKey struct {
	as       access.AgencySystem
	sha      [32]byte
	verified time.Time
}

type keyCache struct {
	mu      sync.Mutex
	keys    map[string]cachedKey
	revoked map[string]bool // revocations seen on REGISTRY, so a late database read cannot bring one back
}

func (c *keyCache) get(id string) (cachedKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keys[id]
	return k, ok
}

func (c *keyCache) put(id string, k cachedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revoked[id] {
		return
	}
	if c.keys == nil {
		c.keys = map[string]cachedKey{}
	}
	c.keys[id] = k
}

func (c *keyCache) revoke(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revoked == nil {
		c.revoked = map[string]bool{}
	}
	c.revoked[id] = true
	delete(c.keys, id)
}

// cachedCheck answers from memory: ok when the key is remembered, its
// secret matches and it is fresh (or, with dbDown, not stale).
func (c *keyCache) check(id, secret string, now time.Time, dbDown bool) (access.AgencySystem, bool) {
	k, ok := c.get(id)
	if !ok {
		return access.AgencySystem{}, false
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], k.sha[:]) != 1 {
		return access.AgencySystem{}, false
	}
	age := now.Sub(k.verified)
	if age < KeyFresh || (dbDown && age < KeyStale) {
		return k.as, true
	}
	return access.AgencySystem{}, false
}

// WatchKeys follows REGISTRY from its end and forgets each key revoked
// there, until ctx ends or the stream fails (its supervisor starts it
// again, reading from the end once more; what it missed meanwhile is caught
// by the freshness check).
func (r *Registry) WatchKeys(ctx context.Context) error {
	last, err := natsjs.LastSeq(ctx, r.js, natsjs.StreamRegistry)
	if err != nil {
		return fmt.Errorf("watch keys: %w", err)
	}
	return natsjs.Follow(ctx, r.js, natsjs.StreamRegistry, last+1, 0, 100, func(msgs []jetstream.Msg) error {
		for _, m := range msgs {
			if !strings.HasPrefix(m.Subject(), "registry.keys.") {
				continue
			}
			var e registry.KeyEvent
			if json.Unmarshal(m.Data(), &e) != nil || e.KeyID == "" {
				continue
			}
			if e.Type == registry.EvKeyRevoked {
				r.keys.revoke(e.KeyID)
			}
		}
		return nil
	})
}
