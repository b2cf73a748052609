package intake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"

	"contactpoint/domain/record"
)

// RuleForbidden is the schema rule of a field that names data the hub may
// not hold (a diagnosis, case notes, attainment).
const RuleForbidden = "forbidden-field"

// redactForbidden returns a JSON record with the value of every forbidden
// field replaced by a digest of it. The quarantine must not become the place
// where the hub holds what it is not allowed to: it keeps the reason, and a
// digest that lets the sender match the entry to what they sent, not the
// value. Input that is not a JSON object, or has no forbidden field, is
// returned as it is.
func redactForbidden(original []byte, fes []record.FieldError) []byte {
	var paths []string
	for _, fe := range fes {
		if fe.Rule == RuleForbidden && fe.Field != "" {
			paths = append(paths, fe.Field)
		}
	}
	if len(paths) == 0 {
		return original
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(original))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return original
	}
	changed := false
	for _, p := range paths {
		if withhold(doc, pointer(p)) {
			changed = true
		}
	}
	if !changed {
		return original
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return original
	}
	return out
}

// Withheld is what a forbidden value is replaced with: "withheld sha256:" and
// the first 16 bytes of the SHA-256 of the value as it was encoded.
const Withheld = "withheld sha256:"

func digest(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return Withheld + hex.EncodeToString(sum[:16])
}

// pointer splits a JSON pointer (RFC 6901) into its tokens.
func pointer(p string) []string {
	if p == "" || p[0] != '/' {
		return nil
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts
}

// withhold replaces the value at path in doc with its digest.
func withhold(doc any, path []string) bool {
	if len(path) == 0 {
		return false
	}
	cur := doc
	for i, tok := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return false
			}
			if last {
				c[tok] = digest(v)
				return true
			}
			cur = v
		case []any:
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n >= len(c) {
				return false
			}
			if last {
				c[n] = digest(c[n])
				return true
			}
			cur = c[n]
		default:
			return false
		}
	}
	return false
}
