package natsjs

import (
	"context"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// The register of practitioners and agency keys, and the audit trail.
const (
	StreamRegistry = "REGISTRY"
	StreamAudit    = "AUDIT"

	SubjectRegistry = "registry.>" // registry.practitioners.<id>, registry.keys.<id>
	SubjectAudit    = "audit.>"    // audit.<action>
)

// AuthStreamConfigs are the streams of the register and the audit trail.
// Neither allows deleting or purging messages: the trail of who read what,
// and of who was allowed to, is evidence.
func AuthStreamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name: StreamRegistry, Subjects: []string{SubjectRegistry}, Storage: jetstream.FileStorage,
			Duplicates: DedupeWindow, AllowDirect: true, DenyDelete: true, DenyPurge: true,
			Description: "Practitioner register and agency API keys",
		},
		{
			Name: StreamAudit, Subjects: []string{SubjectAudit}, Storage: jetstream.FileStorage,
			Duplicates: DedupeWindow, AllowDirect: true, DenyDelete: true, DenyPurge: true,
			Description: "Audit trail: every search, view, export, sign-in and refusal",
		},
	}
}

// EnsureAuthStreams creates the register and audit streams or brings their
// configuration up to date.
func EnsureAuthStreams(ctx context.Context, js jetstream.JetStream, opts ...StreamOption) error {
	for _, sc := range AuthStreamConfigs() {
		for _, o := range opts {
			o(&sc)
		}
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// AgencyNATSUser is the NATS user of one agency system that publishes
// feed records over NATS. It may publish only to intake.<agency>.<system>
// and receive the hub's replies under its own inbox prefix
// (InboxPrefix); it cannot publish to feeds.>, to another agency's subject,
// or to JetStream's API. Its subscriptions are not allowed the whole of
// _INBOX.>: the hub's own JetStream fetches are delivered to _INBOX
// subjects, and a subscriber to _INBOX.> would receive children's records.
// Password may be a bcrypt hash ($2a$...), which nats-server checks as such.
//
// For an external cluster the same permissions go in the server's
// configuration, one user per agency system:
//
//	authorization {
//	  users = [
//	    { user: "health.royal-infirmary-pas", password: "$2a$11$...",
//	      permissions: { publish: { allow: ["intake.health.royal-infirmary-pas"] },
//	                     subscribe: { allow: ["_INBOX.health.royal-infirmary-pas.>"] } } }
//	    { user: "contactpoint", password: "$2a$11$..." }  # the hub itself: no limits
//	  ]
//	}
func AgencyNATSUser(agency, system, password string) *server.User {
	return &server.User{
		Username: agency + "." + system,
		Password: password,
		Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"intake." + agency + "." + system}},
			Subscribe: &server.SubjectPermission{Allow: []string{InboxPrefix(agency, system) + ".>"}},
		},
	}
}
