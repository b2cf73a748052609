package access

import (
	"slices"

	"contactpoint/domain/child"
)

// ShowArchived is what a viewer sees of an archived record read for a
// stated reason: an auditor (who does not search the directory) sees it as
// a practitioner would, behind the shield unless the auditor holds the
// shield role too; everyone else as Show says. A break-glass reveal does
// not carry over to it.
func ShowArchived(v Viewer, cv child.View) (child.View, bool) {
	if v.Has(RoleAuditor) && !CanRead(v) {
		as := Viewer{ID: v.ID, Roles: append(slices.Clone(v.Roles), RolePractitioner)}
		return Show(as, cv)
	}
	v.Revealed = ""
	return Show(v, cv)
}
