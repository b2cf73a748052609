package access

import (
	"fmt"
	"strings"
	"testing"

	"contactpoint/domain/child"
)

// guarded is an unshielded child that an open review task pairs with a
// shielded one: the directory sets Guard.
func guarded() child.View {
	v := fullChild(false)
	v.Guard = &child.Guard{Candidates: []string{"0190b6c0-0000-7000-8000-000000000009"}, Contact: "Shielding team 0113 000 0999"}
	return v
}

func TestRestricted(t *testing.T) {
	for _, c := range []struct {
		name    string
		v       child.View
		want    bool
		contact string
	}{
		{"open", fullChild(false), false, ""},
		{"shielded", fullChild(true), true, "Shielding team 0113 000 0999"},
		{"possible duplicate of a shielded child", guarded(), true, "Shielding team 0113 000 0999"},
	} {
		got, contact := Restricted(c.v)
		if got != c.want || contact != c.contact {
			t.Errorf("%s: Restricted = %v, %q; want %v, %q", c.name, got, contact, c.want, c.contact)
		}
	}
}

// hiddenShown reports whether any field a shield hides is in the view.
func hiddenShown(v child.View) bool {
	return v.Address != nil || len(v.Contacts) > 0 || v.School != nil || v.GPPractice != nil || len(v.Involvements) > 0 ||
		len(v.PreviousNames) > 0 || v.CAF != nil || len(v.Sources) > 0 || strings.Contains(fmt.Sprint(v), "riverside-pas")
}

func TestGuardAndRevealEveryRole(t *testing.T) {
	shielded, dup := fullChild(true), guarded()
	cp := func(revealed string) Viewer {
		return Viewer{ID: "cp1", Roles: []string{RoleChildProtection}, Revealed: revealed}
	}
	cases := []struct {
		name     string
		viewer   Viewer
		view     child.View
		full     bool // hidden fields shown
		details  bool // shield details (who asked, why) shown
		guardIDs bool // the shielded candidates' ids shown
	}{
		{"practitioner, guarded", Viewer{Roles: []string{RolePractitioner}}, dup, false, false, false},
		{"steward, guarded", Viewer{Roles: []string{RoleSteward}}, dup, false, false, false},
		{"shield officer, guarded", Viewer{Roles: []string{RoleShield}}, dup, true, false, true},
		{"child protection without a reveal", cp(""), shielded, false, false, false},
		{"child protection revealing another child", cp("0190b6c0-0000-7000-8000-00000000ffff"), shielded, false, false, false},
		{"child protection revealing this child", cp(shielded.ChildID), shielded, true, false, false},
		{"child protection revealing a guarded child", cp(dup.ChildID), dup, true, false, false},
		// Revealed means nothing without the role: only the reveal check
		// sets it, but the policy does not trust it alone.
		{"practitioner claiming a reveal", Viewer{Roles: []string{RolePractitioner}, Revealed: shielded.ChildID}, shielded, false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Show(c.viewer, c.view)
			if !ok {
				t.Fatal("may not read")
			}
			if hiddenShown(got) != c.full {
				t.Errorf("hidden fields shown = %v, want %v", hiddenShown(got), c.full)
			}
			if (got.Shield != nil) != c.details {
				t.Errorf("shield details shown = %v, want %v", got.Shield != nil, c.details)
			}
			if (got.Guard != nil) != c.guardIDs {
				t.Errorf("guard shown = %v, want %v", got.Guard != nil, c.guardIDs)
			}
			if got.Notice == nil || !got.Notice.Shielded || got.Notice.Contact == "" {
				t.Errorf("notice = %+v, want shielded with a contact", got.Notice)
			}
		})
	}
}

func TestMayMatchRestricted(t *testing.T) {
	ordinary, officer := Viewer{Roles: []string{RolePractitioner}}, Viewer{Roles: []string{RoleShield}}
	for _, f := range []string{FieldFamily, FieldGiven, FieldBirthDate, FieldBornFrom, FieldBornTo, FieldGender, FieldNHSNumber, FieldUPN} {
		if !MayMatchRestricted(ordinary, f) {
			t.Errorf("%s: a restricted child shows it, so a search on it may match", f)
		}
	}
	for _, f := range []string{FieldPostcode, FieldPreviousNames, "address", "school"} {
		if MayMatchRestricted(ordinary, f) {
			t.Errorf("%s: hidden on a restricted child, so a search on it must not match", f)
		}
		if !MayMatchRestricted(officer, f) {
			t.Errorf("%s: the shield role searches every field", f)
		}
	}
}

func TestAuditCriteria(t *testing.T) {
	crit := map[string]string{"family": "Formername", "postcode": "LS6 2AB", "birth_date": "2015-03-14", "about": "child"}
	ordinary, officer := Viewer{Roles: []string{RoleAuditor}}, Viewer{Roles: []string{RoleAuditor, RoleShield}}
	cases := []struct {
		name       string
		auditor    Viewer
		searcher   []string
		restricted bool
		want       map[string]string
	}{
		{"unrestricted results", ordinary, []string{RoleShield}, false, crit},
		{"shield-role auditor", officer, []string{RoleShield}, true, crit},
		{"ordinary searcher: names were current names", ordinary, []string{RolePractitioner}, true,
			map[string]string{"family": "Formername", "postcode": Withheld, "birth_date": "2015-03-14", "about": "child"}},
		{"shield-role searcher: names may have been previous names", ordinary, []string{RoleShield}, true,
			map[string]string{"family": Withheld, "postcode": Withheld, "birth_date": "2015-03-14", "about": "child"}},
	}
	for _, c := range cases {
		got := AuditCriteria(c.auditor, c.searcher, c.restricted, crit)
		if mustJSON(t, got) != mustJSON(t, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if crit["postcode"] != "LS6 2AB" {
		t.Fatal("AuditCriteria changed its input")
	}
}
