package audit

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"contactpoint/domain/audit"
)

// Criteria of entries that name children are crypto-shredded rather than
// deleted: AUDIT denies deletes and purges (and JetStream cannot lift that
// from a stream once set), so that no one with access to the event log can
// quietly remove who looked. An entry naming children carries its criteria
// sealed with a random key of its own, kept in PostgreSQL; an erasure
// deletes the keys of the entries that named the erased child, and the
// stream, its mirrors and every later backup keep the entry — who, when,
// which route, which children — without the names and postcodes searched.
// projections/audit opens them (Unseal).

// seal moves e's criteria into e.Sealed under a new key, stored first.
func seal(ctx context.Context, pool *pgxpool.Pool, e *audit.Entry) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("seal criteria: %w", err)
	}
	plain, err := json.Marshal(e.Criteria)
	if err != nil {
		return fmt.Errorf("seal criteria: %w", err)
	}
	gcm, err := aead(key)
	if err != nil {
		return err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("seal criteria: %w", err)
	}
	// The entry id is the additional data: a sealed blob moved to another
	// entry does not open.
	ct := gcm.Seal(nonce, nonce, plain, []byte(e.ID))
	// A search that found nobody names no children; the column takes an
	// empty list, not NULL.
	children := e.Children
	if children == nil {
		children = []string{}
	}
	if _, err := pool.Exec(ctx, `insert into audit_keys (entry_id, key, children) values ($1, $2, $3) on conflict (entry_id) do nothing`,
		e.ID, key, children); err != nil {
		return fmt.Errorf("seal criteria: store key: %w", err)
	}
	e.Sealed, e.Criteria = base64.StdEncoding.EncodeToString(ct), nil
	return nil
}

func aead(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal criteria: %w", err)
	}
	gcm, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("seal criteria: %w", err)
	}
	return gcm, nil
}
