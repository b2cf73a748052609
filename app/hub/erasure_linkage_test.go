package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/app/hub"
	"contactpoint/app/linker"
	"contactpoint/domain/access"
	"contactpoint/domain/child"
)

// TestErasureTakesTheErasedChildAlone: erasing a child that a steward's
// split, merge or unmerge joined to others reaches the copies of its
// records on their subjects, and takes nothing of theirs.
//   - A split off the record that opened a child: the statement shares a
//     message with the opening child's registration.
//   - A shielded child merged into an unshielded one and unmerged: the merge
//     message copied her records and carried her shield, which the survivor
//     keeps.
//   - The survivor of an undone merge: the child it gave back stands, with
//     her records, in the log and the directory.
//   - A record's earlier version, named on another child's subject only in
//     a message an earlier erasure deleted and restated.
//   - A record split off the survivor of a merge that copied it: the merge
//     is said again without it, and still undoes.
func TestErasureTakesTheErasedChildAlone(t *testing.T) {
	ctx := context.Background()
	cfg := newConfig(t)
	cfg.LifecycleEvery = -1
	h := startHub(t, cfg)
	defer func() { h.Close() }()
	steward := tokenFor(t, h, "steward", access.RoleSteward)

	// 0. A steward splits two records off a child at once, so that one
	// message of the new child states both; then one of them on again, to
	// a child that is erased. The other stays, and so does the first child.
	r0 := kid{agency: "health", system: "pas", id: "RX-BATCH-90", given: "Isadora", family: "Penhaligon", dob: "2016-08-14", gender: "female",
		nhs: "5432319489", postcode: "LS5 3AA", address: "1 Tansy Walk", carer: "Beatrix", phone: "07700 900610"}
	twinA, twinB := r0, r0
	twinA.id, twinA.address, twinA.carer, twinA.phone = "RX-BATCH-91", "3 Meadowsweet Close", "Clementine", "07700 900611"
	twinB.id, twinB.address, twinB.carer, twinB.phone = "RX-BATCH-92", "6 Sorrel Gardens", "Rosalind", "07700 900612"
	send(t, h, r0)
	send(t, h, twinA, twinB)
	firstID := childOf(t, h, r0.agency, r0.system, r0.id)
	allOn(t, h, firstID, twinA, twinB)
	batchID := splitOffTogether(t, h, firstID, "two other children", twinB, twinA)
	batchSplitID := splitOff(t, h, batchID, "twins", twinA)

	// 1. The opening record, split off.
	opener := kid{agency: "health", system: "pas", id: "RX-OPEN-61", given: "Ottilie", family: "Fairweather", dob: "2015-04-09", gender: "female",
		nhs: "1860913903", postcode: "LS7 3JB", address: "5 Larkspur Row", carer: "Hildegard", phone: "07700 900311"}
	second := kid{agency: "education", system: "sims", id: "E-OPEN-62", given: opener.given, family: opener.family, dob: opener.dob, gender: "female",
		nhs: opener.nhs, upn: "T821200714001", postcode: "LS7 3JB", address: "8 Keepsake Lane"}
	send(t, h, opener)
	send(t, h, second)
	keptID := childOf(t, h, second.agency, second.system, second.id)
	if got := childOf(t, h, opener.agency, opener.system, opener.id); got != keptID {
		t.Fatalf("the two records are on %s and %s", got, keptID)
	}
	splitID := splitOff(t, h, keptID, "a different girl", opener)

	// 2. A shielded child merged into an unshielded one, and unmerged.
	x := kid{agency: "social-care", system: "mosaic", id: "SC-SHIELD-71", given: "Wilhelmina", family: "Thistlewood", dob: "2013-02-17", gender: "female",
		nhs: "9960308243", postcode: "LS12 4FY", address: "2 Foxglove Yard", carer: "Araminta", phone: "07700 900422"}
	y := kid{agency: "health", system: "pas", id: "RX-HOLD-72", given: "Barnaby", family: "Cresswell", dob: "2012-06-30", gender: "male",
		nhs: "6281948211", postcode: "LS6 1QE", address: "4 Hollin Grove", carer: "Leopold", phone: "07700 900423"}
	send(t, h, x, y)
	xID, yID := childOf(t, h, x.agency, x.system, x.id), childOf(t, h, y.agency, y.system, y.id)
	// The survivor of a merge is the older id: shield the other.
	survID, absID, abs := xID, yID, y
	if yID < xID {
		survID, absID, abs = yID, xID, x
	}
	if got := shieldChild(t, h, absID); got != absID {
		t.Fatalf("shield landed on %s", got)
	}
	// The steward's reason names both children, as stewards write.
	mergeThenUnmerge(t, h, survID, absID, "Wilhelmina Thistlewood is not Barnaby Cresswell")
	surv := x
	if abs == x {
		surv = y
	}
	mustBeShielded(t, h, survID, surv.address)
	// A steward decides the child the opening record left is not the one
	// to be erased, and says so by name.
	if err := h.Linker.NotLink(ctx, uuid.MustParse(keptID), uuid.MustParse(absID), child.Decision{By: "steward", Reason: "not " + abs.given + " " + abs.family}); err != nil {
		t.Fatal(err)
	}
	waitProjected(t, h)

	// 3. The survivor of an undone merge, erased: the child it gave back
	// stays.
	p := kid{agency: "health", system: "pas", id: "RX-GONE-81", given: "Cornelius", family: "Ashdown", dob: "2014-09-03", gender: "male",
		nhs: "9935181901", postcode: "LS9 7HX", address: "11 Quarry Mount", carer: "Eustace", phone: "07700 900533"}
	q := kid{agency: "social-care", system: "mosaic", id: "SC-STAY-82", given: "Philippa", family: "Loxley", dob: "2014-11-21", gender: "female",
		nhs: "9378657974", postcode: "LS8 2BN", address: "9 Bramble Court", carer: "Ermintrude", phone: "07700 900534"}
	send(t, h, p, q)
	pID, qID := childOf(t, h, p.agency, p.system, p.id), childOf(t, h, q.agency, q.system, q.id)
	s3, a3, gone, stays := pID, qID, p, q
	if qID < pID {
		s3, a3, gone, stays = qID, pID, q, p
	}
	mergeThenUnmerge(t, h, s3, a3, "two children")

	// 4. A record updated, then split off, whose first child is erased
	// before the child it went to: the FEEDS message of its first version
	// is named only on the first child's subject.
	ro := kid{agency: "health", system: "pas", id: "RX-ORIG-95", given: "Ignatius", family: "Wetherell", dob: "2012-12-12", gender: "male",
		nhs: "9434765870", postcode: "LS13 1AB", address: "6 Rookery Fold", carer: "Winifred", phone: "07700 900695"}
	u := ro
	u.agency, u.system, u.id, u.address, u.carer, u.phone = "education", "sims", "E-MOVE-96", "2 Old Mill Yard", "Euphemia", "07700 900696"
	send(t, h, ro)
	send(t, h, u)
	origID := childOf(t, h, ro.agency, ro.system, ro.id)
	if got := childOf(t, h, u.agency, u.system, u.id); got != origID {
		t.Fatalf("the moving record is on %s, want %s", got, origID)
	}
	u2 := u
	u2.address = "5 New Mill Yard"
	send(t, h, u2)
	destID := splitOff(t, h, origID, "another boy", u2)

	// 5. A record sent twice, split off with another at once (one message
	// states both), the other split off again. The first child goes, then
	// the other record's child, then the child holding the record sent
	// twice: its first version's FEEDS message is named, by then, only in
	// what the second erasure restated of it.
	c5 := kid{agency: "health", system: "pas", id: "RX-STAY-51", given: "Peregrine", family: "Hollowell", dob: "2011-03-27", gender: "male",
		nhs: "9876544322", postcode: "LS16 5PQ", address: "7 Bracken Rise", carer: "Marguerite", phone: "07700 900751"}
	a5 := c5
	a5.agency, a5.system, a5.id, a5.address, a5.carer, a5.phone = "education", "sims", "E-PAIR-52", "3 Heron Wharf", "Cordelia", "07700 900752"
	b5 := c5
	b5.agency, b5.system, b5.id, b5.address, b5.carer, b5.phone = "social-care", "mosaic", "SC-TWICE-53", "12 Willow Garth", "Seraphina", "07700 900753"
	b5v2 := b5
	b5v2.address = "14 Willow Garth"
	send(t, h, c5)
	send(t, h, a5)
	send(t, h, b5)
	send(t, h, b5v2)
	x5 := childOf(t, h, c5.agency, c5.system, c5.id)
	allOn(t, h, x5, a5, b5)
	n5 := splitOffTogether(t, h, x5, "two other children", a5, b5v2)
	n52 := splitOff(t, h, n5, "not the same child", a5)

	// 6. A child merged into another, one of its records split off the
	// survivor, and the child that record went to erased: the survivor's
	// merge copy held the record. The merge stands, and an unmerge later
	// still brings the absorbed child's other record back.
	a6 := kid{agency: "health", system: "pas", id: "RX-MERGED-61", given: "Leofric", family: "Dunstable", dob: "2012-01-19", gender: "male",
		nhs: "9434765919", postcode: "LS17 8DD", address: "2 Gorse Hill", carer: "Millicent", phone: "07700 900761"}
	b6 := kid{agency: "social-care", system: "mosaic", id: "SC-MERGED-62", given: "Rosamund", family: "Fitzwarren", dob: "2013-10-02", gender: "female",
		nhs: "9434765927", postcode: "LS18 4EE", address: "5 Sedge Bank", carer: "Theodora", phone: "07700 900762"}
	b62 := b6
	b62.agency, b62.system, b62.id, b62.address, b62.carer, b62.phone = "education", "sims", "E-SPLIT-63", "9 Crowberry Lane", "Philomena", "07700 900763"
	send(t, h, a6)
	send(t, h, b6)
	send(t, h, b62)
	aID6, bID6 := childOf(t, h, a6.agency, a6.system, a6.id), childOf(t, h, b6.agency, b6.system, b6.id)
	allOn(t, h, bID6, b62)
	surv6, abs6 := aID6, bID6
	if bID6 < aID6 {
		surv6, abs6 = bID6, aID6
	}
	merge(t, h, surv6, abs6, "looked the same")
	c6 := splitOff(t, h, surv6, "another girl", b62)

	for _, id := range []string{batchSplitID, splitID, absID, s3, origID, destID, x5, n52, n5, c6} {
		if err := h.Retention.Erase(ctx, uuid.MustParse(id), "steward-request", "test", "hub/test"); err != nil {
			t.Fatalf("erase %s: %v", id, err)
		}
	}
	if _, err := h.Retention.Rewrite(ctx); err != nil {
		t.Fatal(err)
	}
	waitProjected(t, h)

	erased := []string{ro.id, ro.address, ro.carer, ro.phone, u.id, u.address, u.carer, u.phone, u2.address, twinA.id, twinA.address, twinA.carer, twinA.phone, opener.id, opener.address, opener.carer, opener.phone,
		abs.id, abs.given, abs.family, abs.nhs, abs.address, abs.carer, abs.phone,
		gone.id, gone.given, gone.family, gone.nhs, gone.address, gone.carer, gone.phone,
		c5.id, c5.address, c5.carer, c5.phone, a5.id, a5.address, a5.carer, b5.id, b5.address, b5v2.address, b5.carer, b5.phone,
		b62.id, b62.address, b62.carer, b62.phone}
	check := func(where string) {
		t.Helper()
		grepTree(t, filepath.Join(cfg.DataDir, "jetstream"), erased, where+": event log")
		// What the others hold is still there.
		for _, v := range []string{r0.address, twinB.address, twinB.carer, second.address, surv.address, stays.address, stays.carer, a6.address, b6.address, b6.carer} {
			if !treeHolds(t, filepath.Join(cfg.DataDir, "jetstream"), v) {
				t.Errorf("%s: the event log lost %q, which a child still standing holds", where, v)
			}
		}
		if code, body := viewAs(t, h, steward, "/v1/children/"+keptID); code != 200 || !strings.Contains(string(body), second.address) || strings.Contains(string(body), opener.address) {
			t.Errorf("%s: the child the opening record left: %d %s", where, code, body)
		}
		if code, body := viewAs(t, h, steward, "/v1/children/"+batchID); code != 200 || !strings.Contains(string(body), twinB.address) || strings.Contains(string(body), twinA.address) {
			t.Errorf("%s: the child the twin's record left: %d %s", where, code, body)
		}
		if code, body := viewAs(t, h, steward, "/v1/children/"+firstID); code != 200 || !strings.Contains(string(body), r0.address) || strings.Contains(string(body), twinB.address) {
			t.Errorf("%s: the child the two records left: %d %s", where, code, body)
		}
		mustBeShielded(t, h, survID, surv.address)
		if code, body := viewAs(t, h, steward, "/v1/children/"+a3); code != 200 || !strings.Contains(string(body), stays.address) {
			t.Errorf("%s: the child given back by the erased survivor: %d %s", where, code, body)
		}
		if got := search(t, h, url.Values{"family": {stays.family}, "birth_date": {stays.dob}}); got.Count != 1 {
			t.Errorf("%s: search for the child given back: %d results", where, got.Count)
		}
		if code, body := viewAs(t, h, steward, "/v1/children/"+surv6); code != 200 || !strings.Contains(string(body), a6.carer) || !strings.Contains(string(body), b6.carer) || strings.Contains(string(body), b62.carer) {
			t.Errorf("%s: the survivor of the merge: %d %s", where, code, body)
		}
		for _, id := range []string{batchSplitID, splitID, absID, s3, origID, destID, x5, n52, n5, c6} {
			if code, _ := viewAs(t, h, readerToken(t, h), "/v1/children/"+id); code != http.StatusGone {
				t.Errorf("%s: erased child %s: %d", where, id, code)
			}
		}
		// The steward's timeline of the child the opening record left says
		// nothing of it.
		if code, body := viewAs(t, h, steward, "/v1/children/"+keptID+"/history"); code != 200 || strings.Contains(string(body), opener.id) || strings.Contains(string(body), opener.address) {
			t.Errorf("%s: timeline: %d %s", where, code, body)
		}
	}
	checkThroughRebuildAndRestart(t, &h, cfg, check)
	// The restored child's record, sent again, is the same child.
	send(t, h, stays)
	if got := childOf(t, h, stays.agency, stays.system, stays.id); got != a3 {
		t.Fatalf("the child given back is now %s, want %s", got, a3)
	}
	// The merge said again still undoes: the absorbed child gets her
	// record back.
	unmerge(t, h, surv6, abs6, "two children")
	back6 := b6
	if abs6 == aID6 {
		back6 = a6
	}
	if code, body := viewAs(t, h, steward, "/v1/children/"+abs6); code != 200 || !strings.Contains(string(body), back6.carer) {
		t.Errorf("the child unmerged after the erasure: %d %s", code, body)
	}
}

// splitOff has a steward split the records off the child, and returns the
// child they went to.
func splitOff(t *testing.T, h *hub.Hub, from, reason string, ks ...kid) string {
	t.Helper()
	var sources []map[string]string
	for _, k := range ks {
		sources = append(sources, map[string]string{"agency": k.agency, "system": k.system, "record_id": k.id})
	}
	if code, body := call(t, h, "POST", "/v1/children/"+from+"/split", map[string]any{"sources": sources, "reason": reason}); code != 200 {
		t.Fatalf("split: %d %s", code, body)
	}
	waitProjected(t, h)
	return childOf(t, h, ks[0].agency, ks[0].system, ks[0].id)
}

// splitOffTogether splits the records off at once and checks that one
// message of the child they went to states them all.
func splitOffTogether(t *testing.T, h *hub.Hub, from, reason string, ks ...kid) string {
	t.Helper()
	to := splitOff(t, h, from, reason, ks...)
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.id
	}
	if n := messagesStating(t, h, to, ids...); n != 1 {
		t.Fatalf("the records are stated in %d messages of the new child, want one", n)
	}
	return to
}

// allOn fails unless every record is on the child.
func allOn(t *testing.T, h *hub.Hub, id string, ks ...kid) {
	t.Helper()
	for _, k := range ks {
		if got := childOf(t, h, k.agency, k.system, k.id); got != id {
			t.Fatalf("%s is on %s, want %s", k.id, got, id)
		}
	}
}

// mergeThenUnmerge has a steward merge other into survivor and undo it.
func mergeThenUnmerge(t *testing.T, h *hub.Hub, survivor, other, why string) {
	t.Helper()
	merge(t, h, survivor, other, "looked the same")
	unmerge(t, h, survivor, other, why)
}

// merge has a steward merge other into survivor.
func merge(t *testing.T, h *hub.Hub, survivor, other, why string) {
	t.Helper()
	if code, body := call(t, h, "POST", "/v1/children/"+survivor+"/merge", map[string]string{"other": other, "reason": why}); code != 200 {
		t.Fatalf("merge: %d %s", code, body)
	}
	waitProjected(t, h)
}

// unmerge has a steward undo the merge of absorbed into survivor.
func unmerge(t *testing.T, h *hub.Hub, survivor, absorbed, why string) {
	t.Helper()
	if code, body := call(t, h, "POST", "/v1/children/"+survivor+"/unmerge", map[string]string{"absorbed": absorbed, "reason": why}); code != 200 {
		t.Fatalf("unmerge: %d %s", code, body)
	}
	waitProjected(t, h)
}

// messagesStating counts the messages of the child's history that state
// any of the records.
func messagesStating(t *testing.T, h *hub.Hub, id string, records ...string) int {
	t.Helper()
	stated := statements(t, h, id)
	seqs := map[uint64]bool{}
	for _, r := range records {
		for _, q := range stated[r] {
			seqs[q] = true
		}
	}
	return len(seqs)
}

// messageOf returns the sequence of the message of the child's history
// that last states the record.
func messageOf(t *testing.T, h *hub.Hub, id, record string) uint64 {
	t.Helper()
	var seq uint64
	for _, q := range statements(t, h, id)[record] {
		seq = max(seq, q)
	}
	return seq
}

// statements reads the child's history as a steward does: for each record
// id, the messages that state it.
func statements(t *testing.T, h *hub.Hub, id string) map[string][]uint64 {
	t.Helper()
	code, body := call(t, h, "GET", "/v1/children/"+id+"/history", nil)
	if code != 200 {
		t.Fatalf("history: %d %s", code, body)
	}
	var hist struct {
		Events []struct {
			Seq   uint64 `json:"seq"`
			Event struct {
				Stated *struct {
					Source struct {
						RecordID string `json:"record_id"`
					} `json:"source"`
				} `json:"stated"`
			} `json:"event"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &hist); err != nil {
		t.Fatal(err)
	}
	out := map[string][]uint64{}
	for _, e := range hist.Events {
		if e.Event.Stated != nil {
			r := e.Event.Stated.Source.RecordID
			out[r] = append(out[r], e.Seq)
		}
	}
	return out
}

// treeHolds says whether any file under dir holds v.
func treeHolds(t *testing.T, dir, v string) bool {
	t.Helper()
	found := false
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || found {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = bytes.Contains(b, []byte(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestErasureOfARecordSplitOffARestoredChild: an unmerge states the
// records it gives back in the restored child's unmerge message; one of
// them split off again to a child that is erased leaves a copy in that
// message. The erasure says the unmerge again, with every record the
// restored child holds by then (one sent after the unmerge among them), or
// with its merge since, and deletes the message: the children stand as they
// were, after a rebuild and a restart too, and a later unmerge still works.
func TestErasureOfARecordSplitOffARestoredChild(t *testing.T) {
	for _, mergedAgain := range []bool{false, true} {
		t.Run(fmt.Sprintf("merged again %v", mergedAgain), func(t *testing.T) {
			erasureOfARecordSplitOffARestoredChild(t, mergedAgain)
		})
	}
}

func erasureOfARecordSplitOffARestoredChild(t *testing.T, mergedAgain bool) {
	ctx := context.Background()
	cfg := newConfig(t)
	cfg.LifecycleEvery = -1
	h := startHub(t, cfg)
	defer func() { h.Close() }()
	a := kid{agency: "health", system: "pas", id: "RX-RST-81", given: "Lysander", family: "Oakenshaw", dob: "2012-03-03", gender: "male",
		nhs: "9434765951", postcode: "LS21 1HH", address: "4 Yew Tree Walk", carer: "Gwendolen", phone: "07700 900781"}
	b1 := kid{agency: "education", system: "sims", id: "E-RST-82", given: "Perdita", family: "Goodfellow", dob: "2014-07-07", gender: "female",
		nhs: "9434765978", postcode: "LS22 2JJ", address: "8 Bilberry Close", carer: "Henrietta", phone: "07700 900782"}
	b2 := b1
	b2.agency, b2.system, b2.id, b2.address, b2.carer, b2.phone = "social-care", "mosaic", "SC-RST-83", "2 Rowan Garth", "Imogen", "07700 900783"
	b3 := b1
	b3.agency, b3.system, b3.id, b3.address, b3.carer, b3.phone = "health", "chis", "CH-RST-84", "2 Rowan Garth", "Ottoline", "07700 900784"
	// A third child, older than the restored one, that takes it in when it
	// is merged again.
	c := kid{agency: "education", system: "sims", id: "E-RST-85", given: "Cressida", family: "Marchbanks", dob: "2013-01-21", gender: "female",
		postcode: "LS23 6KK", address: "5 Cloudberry Way", carer: "Araminta", phone: "07700 900785"}
	send(t, h, a)
	send(t, h, c)
	send(t, h, b1)
	send(t, h, b2)
	aID, bID, cID := childOf(t, h, a.agency, a.system, a.id), childOf(t, h, b1.agency, b1.system, b1.id), childOf(t, h, c.agency, c.system, c.id)
	allOn(t, h, bID, b2)
	if cID == bID || cID > bID {
		t.Fatalf("the third child %s is not an older child than %s", cID, bID)
	}
	mergeThenUnmerge(t, h, aID, bID, "two children")
	allOn(t, h, bID, b1, b2)
	send(t, h, b3)
	allOn(t, h, bID, b3)
	eID := splitOff(t, h, bID, "another girl", b1)
	// Where the restored child's records are at the end.
	holder := bID
	if mergedAgain {
		merge(t, h, cID, bID, "the same after all")
		holder = cID
	}
	if err := h.Retention.Erase(ctx, uuid.MustParse(eID), "steward-request", "test", "hub/test"); err != nil {
		t.Fatal(err)
	}
	waitProjected(t, h)
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	check := func(where string) {
		t.Helper()
		grepTree(t, filepath.Join(cfg.DataDir, "jetstream"), []string{b1.id, b1.address, b1.carer, b1.phone}, where+": event log")
		code, body := viewAs(t, h, steward, "/v1/children/"+holder)
		if code != 200 || !strings.Contains(string(body), b2.phone) || !strings.Contains(string(body), b3.phone) || strings.Contains(string(body), a.carer) || strings.Contains(string(body), c.carer) != mergedAgain {
			t.Errorf("%s: the restored child's records: %d %s", where, code, body)
		}
		{
			if code, body := viewAs(t, h, steward, "/v1/children/"+aID); code != 200 || !strings.Contains(string(body), a.carer) || strings.Contains(string(body), b2.carer) {
				t.Errorf("%s: the survivor: %d %s", where, code, body)
			}
		}
		allOn(t, h, holder, b2, b3)
		if code, _ := viewAs(t, h, steward, "/v1/children/"+eID); code != http.StatusGone {
			t.Errorf("%s: the erased child: %d", where, code)
		}
	}
	checkThroughRebuildAndRestart(t, &h, cfg, check)
	if mergedAgain {
		unmerge(t, h, cID, bID, "two children after all")
		allOn(t, h, bID, b2, b3)
		if code, body := viewAs(t, h, steward, "/v1/children/"+cID); code != 200 || strings.Contains(string(body), b2.carer) || !strings.Contains(string(body), c.carer) {
			t.Errorf("the survivor after the unmerge: %d %s", code, body)
		}
	}
	// The restored child still links its records' updates.
	b2.address = "3 Rowan Garth"
	send(t, h, b2)
	allOn(t, h, bID, b2)
}

// TestErasureSaysAgainAReviewItsRecordSharedAMessageWith: two records of a
// girl arrive in one call, and the linker decides both in one batch — one
// message of her child states both and asks a steward whether she is
// another girl. The second record is split off to a child that is erased:
// the message is deleted, and the review is said again as the task stood —
// open, decided, or moved with the girl into the child she was merged into
// — under its first id, after a rebuild and a restart too.
func TestErasureSaysAgainAReviewItsRecordSharedAMessageWith(t *testing.T) {
	for _, how := range []string{"open", "decided", "merged"} {
		t.Run(how, func(t *testing.T) { erasureSaysAgainAReview(t, how) })
	}
}

func erasureSaysAgainAReview(t *testing.T, how string) {
	ctx := context.Background()
	cfg := newConfig(t)
	cfg.LifecycleEvery = -1
	// The linker starts once both records are in FEEDS, so that it fetches
	// and decides them in one batch.
	cfg.DeferLinker = true
	h := startHub(t, cfg)
	defer func() { h.Close() }()
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	// An older child that the girl is merged into, in the "merged" case.
	w := kid{agency: "health", system: "pas", id: "RX-REV-90", given: "Cressida", family: "Marchbanks", dob: "2013-01-21", gender: "female",
		nhs: "9434765994", postcode: "LS23 6KK", address: "5 Cloudberry Way", carer: "Araminta", phone: "07700 900790"}
	other := kid{agency: "health", system: "pas", id: "RX-REV-91", given: "Honoria", family: "Blackthorne", dob: "2013-05-19", gender: "female",
		nhs: "9434765986", postcode: "LS6 2AB", address: "14 Juniper Mews", carer: "Perpetua", phone: "07700 900791"}
	a := kid{agency: "education", system: "sims", id: "E-REV-92", given: other.given, family: other.family, dob: other.dob, gender: "female",
		upn: "T821200714001", postcode: "LS4 2RR", address: "3 Stanmore Place"}
	b := a
	b.id, b.address, b.carer, b.phone = "E-REV-93", "5 Stanmore Place", "Ludmilla", "07700 900793"
	for _, recs := range [][]kid{{w, other}, {a, b}} {
		var body []map[string]any
		for _, k := range recs {
			body = append(body, k.json())
		}
		if code, resp := post(t, h, recs[0].agency, "application/x-ndjson", ndjson(body)); code != http.StatusAccepted {
			t.Fatalf("%s: %d %v", recs[0].agency, code, resp)
		}
	}
	h.StartLinker()
	waitProjected(t, h)
	otherID, xID, wID := childOf(t, h, other.agency, other.system, other.id), childOf(t, h, a.agency, a.system, a.id), childOf(t, h, w.agency, w.system, w.id)
	allOn(t, h, xID, b)
	var task int64
	if err := h.DB.QueryRow(ctx, `select task_id from review_tasks where child_id = $1 and candidate_id = $2`, xID, otherID).Scan(&task); err != nil {
		t.Fatalf("want a review task about the other girl: %v", err)
	}
	if n, seq := messagesStating(t, h, xID, a.id, b.id), messageOf(t, h, xID, b.id); n != 1 || seq != uint64(task) {
		t.Fatalf("%d messages state the two records, the second in %d, and the task is %d: want one message", n, seq, task)
	}
	// holder is the child the girl's records and the task are on at the end.
	holder, want := xID, "open"
	switch how {
	case "decided":
		if err := h.Linker.NotLink(ctx, uuid.MustParse(xID), uuid.MustParse(otherID), child.Decision{By: "steward", Reason: "not the same girl"}); err != nil {
			t.Fatal(err)
		}
		waitProjected(t, h)
		want = "not-linked"
	case "merged":
		if wID > xID {
			t.Fatalf("the child to merge into, %s, is not older than %s", wID, xID)
		}
		merge(t, h, wID, xID, "the same girl")
		holder = wID
	}
	eID := splitOff(t, h, holder, "another girl", b)
	if err := h.Retention.Erase(ctx, uuid.MustParse(eID), "steward-request", "test", "hub/test"); err != nil {
		t.Fatal(err)
	}
	waitProjected(t, h)
	check := func(where string) {
		t.Helper()
		grepTree(t, filepath.Join(cfg.DataDir, "jetstream"), []string{b.id, b.address, b.carer, b.phone}, where+": event log")
		var status, cand, on, reason string
		if err := h.DB.QueryRow(ctx, `select status, candidate_id::text, child_id::text, coalesce(reason, '') from review_tasks where task_id = $1`, task).Scan(&status, &cand, &on, &reason); err != nil {
			t.Fatalf("%s: the review task %d: %v", where, task, err)
		}
		if status != want || cand != otherID || on != holder {
			t.Errorf("%s: the review task: %s on %s about %s, %q; want %s on %s", where, status, on, cand, reason, want, holder)
		}
		var n int
		if err := h.DB.QueryRow(ctx, `select count(*) from review_tasks where child_id = any($1::uuid[])`, []string{xID, wID}).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: %d review tasks on the girl (%v), want the one", where, n, err)
		}
		code, body := viewAs(t, h, steward, fmt.Sprintf("/v1/reviews/%d", task))
		if code != 200 || !strings.Contains(string(body), `"status":"`+want+`"`) {
			t.Errorf("%s: the review as the steward reads it: %d %s", where, code, body)
		}
		allOn(t, h, holder, a)
	}
	checkThroughRebuildAndRestart(t, &h, cfg, check)
	if want == "open" {
		// The task said again is still the steward's to decide; the
		// restarted linker takes a moment to load its index.
		for try := 0; ; try++ {
			err := h.Linker.NotLink(ctx, uuid.MustParse(holder), uuid.MustParse(otherID), child.Decision{By: "steward", Reason: "two girls"})
			if err == nil {
				break
			}
			if !errors.Is(err, linker.ErrNotReady) || try == 300 {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		waitProjected(t, h)
		want = "not-linked"
		check("decided after the erasure")
	}
}

// checkThroughRebuildAndRestart runs check now, after a rebuild of the
// directory, and after a restart of the hub (*h is the new one; a linker
// the config defers is started).
func checkThroughRebuildAndRestart(t *testing.T, h **hub.Hub, cfg hub.Config, check func(where string)) {
	t.Helper()
	check("after erasure")
	if err := (*h).Dir.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("after rebuild")
	(*h).Close()
	*h = startHub(t, cfg)
	(*h).StartLinker()
	waitProjected(t, *h)
	check("after restart")
}

// TestErasureFollowsARecordThroughAChildErasedBefore: a record split from
// A to B and on to C leaves copies on A's subject. B is erased first, and
// the directory rebuilt: the events that joined A, B and C were on B's
// subject and went with it, but B's tombstone keeps whom B was joined to,
// so erasing C still reaches A's copies.
func TestErasureFollowsARecordThroughAChildErasedBefore(t *testing.T) {
	ctx := context.Background()
	cfg := newConfig(t)
	cfg.LifecycleEvery = -1
	h := startHub(t, cfg)
	defer func() { h.Close() }()
	keep := kid{agency: "health", system: "pas", id: "RX-CHAIN-11", given: "Tobias", family: "Wainwright", dob: "2011-11-11", gender: "male",
		nhs: "9434766001", postcode: "LS25 1AA", address: "1 Chantry Close", carer: "Rosalind", phone: "07700 900811"}
	moving := keep
	moving.agency, moving.system, moving.id, moving.address, moving.carer, moving.phone = "education", "sims", "E-CHAIN-12", "7 Tithe Barn Lane", "Marjorie", "07700 900812"
	send(t, h, keep)
	send(t, h, moving)
	aID := childOf(t, h, keep.agency, keep.system, keep.id)
	allOn(t, h, aID, moving)
	bID := splitOff(t, h, aID, "another boy", moving)
	// B needs a record of its own to stay standing when the moving record
	// leaves it.
	other := moving
	other.agency, other.system, other.id, other.address, other.carer, other.phone = "social-care", "mosaic", "SC-CHAIN-13", "7 Tithe Barn Lane", "Marjorie", "07700 900813"
	other.nhs = "9434766028"
	other.given = "Tobiah"
	send(t, h, other)
	merge(t, h, bID, childOf(t, h, other.agency, other.system, other.id), "the same boy")
	allOn(t, h, bID, other, moving)
	cID := splitOff(t, h, bID, "not the same boy", moving)
	if err := h.Retention.Erase(ctx, uuid.MustParse(bID), "steward-request", "test", "hub/test"); err != nil {
		t.Fatal(err)
	}
	waitProjected(t, h)
	if err := h.Dir.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	waitProjected(t, h)
	if err := h.Retention.Erase(ctx, uuid.MustParse(cID), "steward-request", "test", "hub/test"); err != nil {
		t.Fatal(err)
	}
	waitProjected(t, h)
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	checkThroughRebuildAndRestart(t, &h, cfg, func(where string) {
		t.Helper()
		grepTree(t, filepath.Join(cfg.DataDir, "jetstream"), []string{moving.id, moving.address, moving.carer, moving.phone, other.id, other.phone}, where+": event log")
		if code, body := viewAs(t, h, steward, "/v1/children/"+aID); code != 200 || !strings.Contains(string(body), keep.carer) || strings.Contains(string(body), moving.carer) {
			t.Errorf("%s: the child the record left first: %d %s", where, code, body)
		}
		for _, id := range []string{bID, cID} {
			if code, _ := viewAs(t, h, steward, "/v1/children/"+id); code != http.StatusGone {
				t.Errorf("%s: erased child %s: %d", where, id, code)
			}
		}
	})
}
