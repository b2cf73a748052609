package hub_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/domain/access"
	"contactpoint/domain/retention"
)

// TestArchivedChildStaysShielded: the doors an archived record keeps open —
// a steward's enquiry (view and search with include_archived=true) and an
// auditor's read for a stated reason — show a shielded child shielded, and
// a search on its hidden address does not find it.
func TestArchivedChildStaysShielded(t *testing.T) {
	ctx := context.Background()
	cfg := newConfig(t)
	cfg.LifecycleEvery = -1
	h := startHub(t, cfg)
	defer h.Close()
	k := kid{agency: "health", system: "pas", id: "RX-ARCH-41", given: "Marisol", family: "Underhay", dob: "2009-03-12", gender: "female",
		nhs: "9434765919", postcode: "LS15 8QP", address: "12 Heronsgate", carer: "Dorothea", phone: "07700 900741"}
	send(t, h, k)
	id := childOf(t, h, k.agency, k.system, k.id)
	if got := shieldChild(t, h, id); got != id {
		t.Fatalf("shield landed on %s", got)
	}
	if err := h.Retention.Archive(ctx, uuid.MustParse(id), retention.RuleAge18, "the child reached 18", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitProjected(t, h)
	hidden := []string{k.postcode, k.address, "Heronsgate", k.carer, k.phone}
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	auditor := tokenFor(t, h, "auditor", access.RoleAuditor)
	officer := tokenFor(t, h, "officer2", access.RoleShield, access.RoleSteward)
	reason := url.QueryEscape("subject access request 2026-118")
	for _, c := range []struct {
		who, token, path string
		find             bool // the answer must name the child
	}{
		{"steward's enquiry", steward, "/v1/children/" + id + "?include_archived=true", true},
		{"steward's search", steward, "/v1/children?" + url.Values{"family": {k.family}, "birth_date": {k.dob}, "include_archived": {"true"}}.Encode(), true},
		{"steward's search on the hidden postcode", steward, "/v1/children?" + url.Values{"family": {k.family}, "postcode": {k.postcode}, "include_archived": {"true"}}.Encode(), false},
		{"auditor's read", auditor, "/v1/archive/children/" + id + "?reason=" + reason, true},
	} {
		code, body := viewAs(t, h, c.token, c.path)
		if c.find && (code != http.StatusOK || !strings.Contains(string(body), id)) {
			t.Fatalf("%s: %d %s", c.who, code, body)
		}
		if !c.find && strings.Contains(string(body), id) {
			t.Fatalf("%s found the shielded child: %s", c.who, body)
		}
		for _, v := range hidden {
			if strings.Contains(string(body), v) {
				t.Fatalf("%s shows %q of the shielded archived child: %s", c.who, v, body)
			}
		}
		if c.find && !strings.Contains(string(body), `"shielded":true`) {
			t.Fatalf("%s does not say the record is shielded: %s", c.who, body)
		}
	}
	// A steward who is also a shield officer sees it in full.
	if code, body := viewAs(t, h, officer, "/v1/children/"+id+"?include_archived=true"); code != 200 || !strings.Contains(string(body), k.address) {
		t.Fatalf("shield officer's enquiry: %d %s", code, body)
	}
}
