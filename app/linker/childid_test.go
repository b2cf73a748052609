package linker

import (
	"crypto/sha256"
	"math/bits"
	"strconv"
	"testing"

	"github.com/google/uuid"
)

// oldChildID is the scheme ChildID replaced: random bits from an unkeyed
// hash of the feed sequence, which anyone could compute.
func oldChildID(id uuid.UUID, feedSeq uint64) uuid.UUID {
	h := sha256.Sum256([]byte("contactpoint-child:" + strconv.FormatUint(feedSeq, 10)))
	copy(id[6:], h[:10])
	id[6] = 0x70 | (id[6] & 0x0f)
	id[8] = 0x80 | (id[8] & 0x3f)
	return id
}

func TestChildIDIsKeyed(t *testing.T) {
	k1 := []byte("key one: thirty-two bytes long..")
	k2 := []byte("key two: thirty-two bytes long..")
	cases := []struct {
		name string
		a, b uuid.UUID
		same bool
	}{
		{"same key, same record", ChildID(k1, fixed, 7), ChildID(k1, fixed, 7), true},
		{"another key", ChildID(k1, fixed, 7), ChildID(k2, fixed, 7), false},
		{"next feed sequence", ChildID(k1, fixed, 7), ChildID(k1, fixed, 8), false},
		{"not the unkeyed scheme", ChildID(k1, fixed, 7), oldChildID(ChildID(k1, fixed, 7), 7), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.a == tc.b) != tc.same {
				t.Fatalf("%s and %s: same %v, want %v", tc.a, tc.b, tc.a == tc.b, tc.same)
			}
			if tc.a.Version() != 7 || tc.a.Variant() != uuid.RFC4122 {
				t.Fatalf("%s is not an RFC 4122 UUIDv7", tc.a)
			}
		})
	}
}

// TestConsecutiveChildIDsAreUnrelated: knowing the id for one feed sequence
// tells nothing about the next. The ids of consecutive sequences differ in
// about half of their 74 random bits, as independent random ids do, and
// none equals what the unkeyed hash would give.
func TestConsecutiveChildIDsAreUnrelated(t *testing.T) {
	key := []byte("a deployment's thirty-two byte k")
	const n = 2000
	total := 0
	prev := ChildID(key, fixed, 1)
	for seq := uint64(2); seq <= n; seq++ {
		id := ChildID(key, fixed, seq)
		if id == oldChildID(id, seq) {
			t.Fatalf("seq %d: id is the unkeyed hash's", seq)
		}
		for i := 6; i < 16; i++ {
			total += bits.OnesCount8(id[i] ^ prev[i])
		}
		prev = id
	}
	// 74 random bits (80 less the 6 of version and variant), half differing.
	mean := float64(total) / (n - 1)
	if mean < 34 || mean > 40 {
		t.Fatalf("consecutive ids differ in %.1f random bits on average, want about 37", mean)
	}
}
