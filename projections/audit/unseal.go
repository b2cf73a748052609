package audit

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"contactpoint/domain/audit"
)

// ErasedCriteria replaces the criteria of an entry whose key was destroyed
// because a child it named was erased (see adapters/audit/seal.go).
var ErasedCriteria = map[string]string{"erased": "criteria erased with the child's personal data"}

// Querier reads keys: a pool or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Unseal returns an entry's criteria: in clear, opened with its key from
// audit_keys, or ErasedCriteria when the key is gone.
func Unseal(ctx context.Context, q Querier, e audit.Entry) (map[string]string, error) {
	if e.Sealed == "" {
		return e.Criteria, nil
	}
	var key []byte
	err := q.QueryRow(ctx, `select key from audit_keys where entry_id = $1`, e.ID).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErasedCriteria, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unseal criteria: %w", err)
	}
	ct, err := base64.StdEncoding.DecodeString(e.Sealed)
	if err != nil {
		return ErasedCriteria, nil
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return ErasedCriteria, nil
	}
	gcm, err := cipher.NewGCM(b)
	if err != nil || len(ct) < gcm.NonceSize() {
		return ErasedCriteria, nil
	}
	plain, err := gcm.Open(nil, ct[:gcm.NonceSize()], ct[gcm.NonceSize():], []byte(e.ID))
	if err != nil {
		return ErasedCriteria, nil
	}
	var out map[string]string
	if json.Unmarshal(plain, &out) != nil {
		return ErasedCriteria, nil
	}
	return out, nil
}
