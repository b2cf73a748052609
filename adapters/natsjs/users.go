package natsjs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"contactpoint/domain/record"
)

// AgencyUser is one agency system that may publish feed records to the
// embedded server's listening port. PasswordHash is a bcrypt hash: the
// configuration never holds an agency's password in clear.
type AgencyUser struct {
	Agency       string `mapstructure:"agency" json:"agency"`
	System       string `mapstructure:"system" json:"system"`
	PasswordHash string `mapstructure:"password-hash" json:"password-hash"`
}

// HubUser is the name the hub's own connection to the embedded server signs
// in with. Its password is random and new on every start, so it exists only
// in the process's memory.
const HubUser = "contactpoint-hub"

// ErrListenWithoutUsers refuses to open a port that anyone could publish to.
var ErrListenWithoutUsers = errors.New("nats-listen is set but nats-users is empty: the embedded server will not accept unauthenticated publishers; configure at least one agency user (see README, NATS publishers)")

var (
	bcryptHash = regexp.MustCompile(`^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$`)
	systemName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{2,63}$`)
)

// InboxPrefix is the reply-subject prefix an agency system's client must use
// (nats.go: nats.CustomInboxPrefix): its user may subscribe only under it,
// so it never sees the replies meant for the hub or for other agencies.
func InboxPrefix(agency, system string) string { return "_INBOX." + agency + "." + system }

// Validate checks one agency user; messages name the entry, never the hash.
func (u AgencyUser) Validate() error {
	if !record.IsAgency(u.Agency) {
		return fmt.Errorf("agency %q must be one of %v", u.Agency, record.Agencies)
	}
	if !systemName.MatchString(u.System) {
		return fmt.Errorf("%s system %q must be 3–64 characters of a–z, 0–9, '-', '_'", u.Agency, u.System)
	}
	if !bcryptHash.MatchString(u.PasswordHash) {
		return fmt.Errorf("%s/%s: password-hash must be a bcrypt hash ($2a$…, $2b$… or $2y$…), not a password", u.Agency, u.System)
	}
	return nil
}

// embeddedAuth is the user list of an embedded server that listens: one
// restricted user per agency system and the hub's own, unrestricted user.
// It returns the option the hub's in-process connection signs in with.
// Without a listening port nobody but the hub can connect, so no users are
// configured.
func embeddedAuth(cfg Config) ([]*server.User, nats.Option, error) {
	if cfg.Listen == "" {
		return nil, nil, nil
	}
	if len(cfg.Agencies) == 0 {
		return nil, nil, ErrListenWithoutUsers
	}
	users := make([]*server.User, 0, len(cfg.Agencies)+1)
	seen := map[string]bool{}
	for i, a := range cfg.Agencies {
		if err := a.Validate(); err != nil {
			return nil, nil, fmt.Errorf("nats-users entry %d: %w", i+1, err)
		}
		u := AgencyNATSUser(a.Agency, a.System, a.PasswordHash)
		if seen[u.Username] {
			return nil, nil, fmt.Errorf("nats-users entry %d: %s/%s is listed twice", i+1, a.Agency, a.System)
		}
		seen[u.Username] = true
		users = append(users, u)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, nil, fmt.Errorf("embedded NATS: hub password: %w", err)
	}
	pw := hex.EncodeToString(b)
	// No Permissions: the hub publishes to FEEDS, CHILDREN, AUDIT and
	// JetStream's API, and serves intake.*.*.
	users = append(users, &server.User{Username: HubUser, Password: pw})
	return users, nats.UserInfo(HubUser, pw), nil
}
