// Package access is the hub's one access policy: who may do what, and what a
// viewer may see of a child. Every adapter asks it; none decides for itself.
package access

import "context"

// Roles a user of the hub may hold.
const (
	RolePractitioner = "practitioner"
	RoleShield       = "shield-officer" // sees shielded records in full; applies and lifts shields
	RoleSteward      = "data-steward"
	RoleAuditor      = "auditor"
	RoleAdmin        = "administrator"
	// RoleChildProtection may reveal one shielded record at a time under
	// break-glass: with a stated reason, a warning, an event and an audit
	// entry. It does not see shielded records otherwise.
	RoleChildProtection = "child-protection"
)

// Roles lists every role, for validating what an administrator grants.
var Roles = []string{RolePractitioner, RoleShield, RoleSteward, RoleAuditor, RoleAdmin, RoleChildProtection}

// Viewer is an authenticated, currently eligible user of the hub.
type Viewer struct {
	ID           string   `json:"id"`   // practitioner id (UUID)
	Name         string   `json:"name"` // for contact details shown to others, never for logs
	Organisation string   `json:"organisation,omitempty"`
	Roles        []string `json:"roles"`
	// Revealed is the child whose shielded record this viewer has open under
	// a break-glass reveal for this request; only the reveal check sets it.
	Revealed string `json:"-"`
}

// Has reports whether the viewer holds role.
func (v Viewer) Has(role string) bool {
	for _, r := range v.Roles {
		if r == role {
			return true
		}
	}
	return false
}

type viewerKey struct{}

// WithViewer returns ctx carrying the authenticated viewer. Only the
// authentication middleware calls it.
func WithViewer(ctx context.Context, v Viewer) context.Context {
	if slot, ok := ctx.Value(slotKey{}).(*ViewerSlot); ok {
		slot.ID = v.ID
	}
	return context.WithValue(ctx, viewerKey{}, v)
}

// ViewerSlot receives the id of the viewer that authentication finds
// further down a request's handlers, for the request's log line, which is
// written outside them.
type ViewerSlot struct{ ID string }

type slotKey struct{}

// WithViewerSlot returns ctx carrying an empty slot that WithViewer fills.
func WithViewerSlot(ctx context.Context) (context.Context, *ViewerSlot) {
	s := &ViewerSlot{}
	return context.WithValue(ctx, slotKey{}, s), s
}

// ViewerFrom returns the viewer in ctx, if any.
func ViewerFrom(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(viewerKey{}).(Viewer)
	return v, ok
}
