package hub_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/app/hub"
	"contactpoint/app/intake"
	"contactpoint/domain/access"
	"contactpoint/domain/ident"
)

// TestShieldModel is a model-based test of invariant 3 ("shielded means
// shielded") across lifecycles. Each sequence drives a fresh hub through
// random steps — feed records from several agencies, near-duplicates that
// go to review, records whose identifiers bridge two children, source
// merges (A40), shields and lifts (also through absorbed ids), stewards'
// merges, splits and review decisions both ways, withdrawals, quarantined
// corrections, break-glass reveals and directory rebuilds — and after every
// step calls every outward route as every role without the shield role,
// checking that no hidden value of a restricted child reaches them.
//
// The model's one rule is the invariant itself: a shield marks every source
// record of the child; a lift unmarks them; whatever the hub then does with
// the records (link, merge, split), a child holding a marked record must be
// shielded, and a child that an open review task pairs with such a child
// must be treated as shielded too.
//
// CONTACTPOINT_MODEL_SEED, _SEQUENCES and _STEPS set the run; the suite
// runs a short one. A long run is the same test:
//
//	CONTACTPOINT_MODEL_SEQUENCES=40 CONTACTPOINT_MODEL_STEPS=120 go test -run TestShieldModel -timeout 2h ./app/hub
func TestShieldModel(t *testing.T) {
	seed := envInt(t, "CONTACTPOINT_MODEL_SEED", 20261201)
	seqs := envInt(t, "CONTACTPOINT_MODEL_SEQUENCES", 2)
	steps := envInt(t, "CONTACTPOINT_MODEL_STEPS", 30)
	total := 0
	for i := int64(0); i < seqs; i++ {
		s := seed + i
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			total += runShieldModel(t, uint64(s), int(steps))
		})
	}
	t.Logf("shield model: %d sequences, %d steps, first seed %d", seqs, total, seed)
}

func envInt(t *testing.T, name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// person is one real child, as the model knows them.
type person struct {
	given, family, dob, gender string
	nhs, upn                   string
}

// source is one source record the model sent.
type source struct {
	agency, system, id string
	p                  *person
	body               map[string]any
	hidden             []string // every hidden value this record has ever carried
	withdrawn          bool
}

func (s *source) key() string { return s.agency + "/" + s.system + "/" + s.id }

type quarantined struct {
	src       *source  // the record it was a correction of
	hidden    []string // hidden values it carried
	forbidden string   // a forbidden field's value: no one may ever see it
}

type shieldModel struct {
	t       *testing.T
	h       *hub.Hub
	rng     *rand.Rand
	n       int // counter for unique values
	tokens  map[string]string
	users   map[string]string // name -> practitioner id
	people  []*person
	sources map[string]*source
	marked  map[string]bool // source key -> behind a shield
	ids     map[string]bool // every child id ever seen
	quar    []quarantined
	fixes   map[string][]string // child id -> hidden values of stewards' corrections on its stream
	gone    map[string]string   // hidden value -> the erased child it belonged to: no one sees it again
	shared  map[string]bool     // systems that send more than one record: their names are hidden by none
	erased  map[string]bool     // ids of erased children, and of the children merged into them
	dataDir string
	merges  [][2]string // survivor, absorbed: merges the steward made, for unmerge
	reveal  string      // the child the child-protection user has revealed
	trail   []string
	calls   int               // requests made, for the report
	surv    map[string]string // child id -> survivor, for the step being checked
	since   time.Time         // when the last check began
	peak    int               // most restricted children at once

	// Truth read after each step, as a user holding both the shield and
	// the steward role: who owns each source, and the open tasks.
	owner map[string]string   // source key -> child id
	srcs  map[string][]string // child id -> source keys
	tasks [][2]string
}

// roles of the users the model signs in. oracle sees everything and does
// the stewards' and shield officers' work; the others are checked.
var modelUsers = map[string][]string{
	"oracle":  {access.RoleSteward, access.RoleShield},
	"officer": {access.RoleShield},
	"prac":    {access.RolePractitioner},
	"steward": {access.RoleSteward},
	"auditor": {access.RoleAuditor},
	"admin":   {access.RoleAdmin},
	"cp":      {access.RoleChildProtection},
}

// checked are the users without the shield role.
var checked = []string{"prac", "steward", "auditor", "admin", "cp"}

func runShieldModel(t *testing.T, seed uint64, steps int) int {
	cfg := newConfig(t)
	cfg.LifecycleEvery = -1
	h := startHub(t, cfg)
	t.Cleanup(h.Close)
	m := &shieldModel{t: t, h: h, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), tokens: map[string]string{}, users: map[string]string{},
		sources: map[string]*source{}, marked: map[string]bool{}, ids: map[string]bool{}, fixes: map[string][]string{},
		gone: map[string]string{}, shared: map[string]bool{}, erased: map[string]bool{}, dataDir: cfg.DataDir, surv: map[string]string{}}
	for name, roles := range modelUsers {
		c := enrol(t, h, "model-"+name, roles...)
		st, body := login(t, h, c.Username, c.Password, code(t, c.TOTPSecret))
		if st != http.StatusOK {
			t.Fatalf("sign in %s: %d %v", name, st, body)
		}
		m.tokens[name] = body["token"].(string)
		m.users[name] = body["practitioner"].(map[string]any)["id"].(string)
	}
	defer func() {
		if t.Failed() {
			t.Logf("seed %d, steps:\n  %s", seed, strings.Join(m.trail, "\n  "))
		}
	}()
	for i := 0; i < 6; i++ {
		m.newPerson()
	}
	m.settle()
	for i := 0; i < steps && !t.Failed(); i++ {
		m.step()
		m.settle()
		m.check()
	}
	t.Logf("seed %d: %d steps, %d children, %d source records, at most %d restricted at once, %d open tasks at the end, %d requests",
		seed, steps, len(m.srcs), len(m.sources), m.peak, len(m.tasks), m.calls)
	return steps
}

// step does one random operation.
func (m *shieldModel) step() {
	ops := []struct {
		w  int
		fn func() string
	}{
		{2, m.newPerson}, {3, m.addSource}, {1, m.addTwoSources}, {2, m.nearDuplicate}, {1, m.move}, {1, m.withdraw},
		{3, m.shield}, {1, m.lift}, {2, m.merge}, {1, m.split}, {2, m.decide}, {1, m.sourceMerge},
		{1, m.bridge}, {1, m.quarantine}, {1, m.revealOne}, {1, m.rebuild}, {1, m.correct}, {1, m.unmerge}, {1, m.erase},
	}
	total := 0
	for _, o := range ops {
		total += o.w
	}
	r := m.rng.IntN(total)
	for _, o := range ops {
		if r < o.w {
			m.trail = append(m.trail, o.fn())
			return
		}
		r -= o.w
	}
}

// --- generating records ----------------------------------------------------

var (
	modelGiven  = []string{"Olivia", "Amelia", "Isla", "Ava", "Noah", "Oliver", "George", "Leo", "Freya", "Arthur", "Ivy", "Theo"}
	modelFamily = []string{"Hughes", "Patel", "Khan", "Smith", "Jones", "Walker", "Wright", "Begum", "Ahmed", "Taylor"}
)

// token is a value found nowhere else: hidden values are made of them, so a
// hidden value found in an answer can only have come from its record. The
// counter is written at a fixed width: with a variable one an early token
// ("Qlpjs") can be the start of a later one ("Qlpjsx"), and the check
// would take one child's value for another's.
func (m *shieldModel) token() string {
	m.n++
	const letters = "bcdfghjklmnpqrstvwxz"
	var b strings.Builder
	b.WriteString("Q")
	for i, x := 0, m.n; i < 4; i, x = i+1, x/len(letters) {
		b.WriteByte(letters[x%len(letters)])
	}
	for i := 0; i < 3; i++ {
		b.WriteByte(letters[m.rng.IntN(len(letters))])
	}
	return b.String()
}

// postcode is a valid UK postcode unique to the run.
func (m *shieldModel) postcode() string {
	m.n++
	areas := []string{"LS", "BD", "HX", "WF", "HD", "YO"}
	n := m.n
	return fmt.Sprintf("%s%d %d%c%c", areas[n%len(areas)], 1+n/6%20, n/120%10, 'A'+byte(n/1200%26), 'A'+byte(m.rng.IntN(26)))
}

func (m *shieldModel) nhsNumber() string {
	for {
		nine := fmt.Sprintf("%09d", m.rng.IntN(1_000_000_000))
		if d, ok := ident.NHSCheckDigit(nine); ok {
			return nine + string(d)
		}
	}
}

func (m *shieldModel) upnNumber() string {
	body := fmt.Sprintf("%03d%04d%05d", 100+m.rng.IntN(900), m.rng.IntN(10000), m.rng.IntN(100000))
	l, _ := ident.UPNCheckLetter(body)
	return string(l) + body
}

func (m *shieldModel) newPersonValue() *person {
	y := 2010 + m.rng.IntN(14)
	p := &person{given: modelGiven[m.rng.IntN(len(modelGiven))], family: modelFamily[m.rng.IntN(len(modelFamily))],
		dob: fmt.Sprintf("%d-%02d-%02d", y, 1+m.rng.IntN(12), 1+m.rng.IntN(28)), gender: []string{"female", "male"}[m.rng.IntN(2)],
		nhs: m.nhsNumber(), upn: m.upnNumber()}
	m.people = append(m.people, p)
	return p
}

// record builds a source record about p carrying fresh hidden values.
func (m *shieldModel) record(s *source, withIDs bool, given string) {
	p := s.p
	street, town, carer, school, gp, former := m.token(), m.token(), m.token(), m.token(), m.token(), m.token()
	pc := m.postcode()
	c := map[string]any{
		"name":           map[string]any{"given": given, "family": p.family},
		"birth_date":     p.dob,
		"gender":         p.gender,
		"address":        map[string]any{"lines": []string{"1 " + street + " Street"}, "town": town, "postcode": pc},
		"contacts":       []any{map[string]any{"relationship": "mother", "name": map[string]any{"given": carer, "family": p.family}, "phone": "07700 900123"}},
		"previous_names": []any{map[string]any{"given": given, "family": former}},
	}
	ids := map[string]any{}
	switch s.agency {
	case "health":
		c["gp_practice"] = map[string]any{"ods_code": "B86001", "name": gp + " Surgery"}
		if withIDs {
			ids["nhs_number"] = p.nhs
		}
	case "education":
		c["school"] = map[string]any{"urn": "107945", "name": school + " Primary"}
		if withIDs {
			ids["upn"] = p.upn
		}
	default:
		c["involvements"] = []any{map[string]any{"service": "Early Help", "organisation": gp + " Council",
			"practitioner": map[string]any{"name": school + " Worker", "phone": "0113 496 0101"}}}
		if withIDs && m.rng.IntN(2) == 0 {
			ids["nhs_number"] = p.nhs
		}
	}
	if len(ids) > 0 {
		c["identifiers"] = ids
	}
	s.body = map[string]any{"schema": "contactpoint.feed-record.v1", "operation": "upsert", "child": c,
		"source": map[string]any{"agency": s.agency, "system": s.system, "record_id": s.id}}
	s.hidden = append(s.hidden, street, town, carer, former, strings.ReplaceAll(pc, " ", ""), pc, s.id)
	if !m.shared[s.system] {
		s.hidden = append(s.hidden, s.system)
	}
	switch s.agency {
	case "health":
		s.hidden = append(s.hidden, gp)
	case "education":
		s.hidden = append(s.hidden, school)
	default:
		s.hidden = append(s.hidden, gp, school)
	}
}

func (m *shieldModel) newSource(p *person, agency string) *source {
	s := &source{agency: agency, system: "sys" + strings.ToLower(m.token()), id: "R" + m.token(), p: p}
	m.sources[s.key()] = s
	return s
}

func (m *shieldModel) send(s *source) {
	m.t.Helper()
	raw, _ := json.Marshal(s.body)
	outs, err := m.h.Intake.SubmitJSON(context.Background(), intake.Origin{Agency: s.agency, System: s.system, Format: "json", Channel: "http"}, [][]byte{raw})
	if err != nil {
		m.t.Fatal(err)
	}
	if outs[0].Status != intake.StatusAccepted && outs[0].Status != intake.StatusDuplicate {
		m.t.Fatalf("record not accepted: %+v", outs[0])
	}
}

func agencyOf(r *rand.Rand) string {
	return []string{"health", "education", "social-care"}[r.IntN(3)]
}

// --- operations ----------------------------------------------------------------

func (m *shieldModel) newPerson() string {
	p := m.newPersonValue()
	s := m.newSource(p, agencyOf(m.rng))
	m.record(s, true, p.given)
	m.send(s)
	return "new person " + s.key()
}

func (m *shieldModel) somePerson() *person { return m.people[m.rng.IntN(len(m.people))] }

func (m *shieldModel) addSource() string {
	p := m.somePerson()
	s := m.newSource(p, agencyOf(m.rng))
	m.record(s, true, p.given)
	m.send(s)
	return "another source " + s.key()
}

// addTwoSources sends two records of one person from one system in one
// call: the linker often decides both in one batch, so one message of the
// child states both, and a split or an erasure later must take that
// message apart.
func (m *shieldModel) addTwoSources() string {
	p := m.somePerson()
	a := m.newSource(p, agencyOf(m.rng))
	b := &source{agency: a.agency, system: a.system, id: "R" + m.token(), p: p}
	m.sources[b.key()] = b
	// The two records share their system: its name is unique to neither.
	m.shared[a.system] = true
	m.record(a, true, p.given)
	m.record(b, true, p.given)
	ra, _ := json.Marshal(a.body)
	rb, _ := json.Marshal(b.body)
	outs, err := m.h.Intake.SubmitJSON(context.Background(), intake.Origin{Agency: a.agency, System: a.system, Format: "json", Channel: "http"}, [][]byte{ra, rb})
	if err != nil {
		m.t.Fatal(err)
	}
	for _, o := range outs {
		if o.Status != intake.StatusAccepted {
			m.t.Fatalf("record not accepted: %+v", o)
		}
	}
	return "two sources " + a.key() + " " + b.key()
}

// nearDuplicate sends a record without identifiers and with a slip in the
// given name: a probable match, a review task or a new child.
func (m *shieldModel) nearDuplicate() string {
	p := m.somePerson()
	s := m.newSource(p, agencyOf(m.rng))
	g := p.given
	if len(g) > 3 {
		g = g[:len(g)-1] + g[len(g)-2:len(g)-1]
	}
	m.record(s, false, g)
	m.send(s)
	return "near duplicate " + s.key()
}

func (m *shieldModel) someSource(active bool) *source {
	var keys []string
	for k, s := range m.sources {
		if !active || !s.withdrawn {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	return m.sources[keys[m.rng.IntN(len(keys))]]
}

// move restates a source with a new address (and new hidden values).
func (m *shieldModel) move() string {
	s := m.someSource(true)
	if s == nil {
		return "move: no standing record"
	}
	m.record(s, true, s.p.given)
	m.send(s)
	return "move " + s.key()
}

func (m *shieldModel) withdraw() string {
	s := m.someSource(true)
	if s == nil {
		return "withdraw: no standing record"
	}
	s.withdrawn = true
	s.body = map[string]any{"schema": "contactpoint.feed-record.v1", "operation": "withdraw",
		"source": map[string]any{"agency": s.agency, "system": s.system, "record_id": s.id}}
	m.send(s)
	return "withdraw " + s.key()
}

// someChild picks a child id: usually a standing one, sometimes one that
// was absorbed (a door to the survivor).
func (m *shieldModel) someChild() string {
	var ids []string
	if m.rng.IntN(4) == 0 {
		for id := range m.ids {
			if !m.erased[id] {
				ids = append(ids, id)
			}
		}
	} else {
		for id := range m.srcs {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	sort.Strings(ids)
	return ids[m.rng.IntN(len(ids))]
}

func (m *shieldModel) survivor(id string) string {
	code, body := m.call("oracle", "GET", "/v1/children/"+id, nil)
	if code != http.StatusOK {
		m.t.Fatalf("oracle cannot read %s: %d %s", id, code, body)
	}
	var v struct{ ID string }
	_ = json.Unmarshal(body, &v)
	return v.ID
}

func (m *shieldModel) shield() string {
	id := m.someChild()
	if id == "" {
		return "shield: no child"
	}
	review := time.Now().AddDate(0, 6, 0).Format(time.DateOnly)
	code, body := m.call("officer", "POST", "/v1/children/"+id+"/shield", map[string]any{"requested_by": "social worker",
		"requested_by_kind": "practitioner", "reason_category": "domestic-abuse", "review_date": review, "contact": "Shielding team 0113 000 0999"})
	if code != http.StatusCreated {
		m.t.Fatalf("shield %s: %d %s", id, code, body)
	}
	var r struct {
		ChildID string `json:"child_id"`
	}
	_ = json.Unmarshal(body, &r)
	m.settle()
	if surv := m.survivor(id); r.ChildID != surv {
		m.t.Fatalf("shield through %s landed on %s, not the survivor %s", id, r.ChildID, surv)
	}
	for _, k := range m.srcs[r.ChildID] {
		m.marked[k] = true
	}
	return "shield " + id + " (on " + r.ChildID + ")"
}

func (m *shieldModel) lift() string {
	var shielded []string
	for id, ks := range m.srcs {
		for _, k := range ks {
			if m.marked[k] {
				shielded = append(shielded, id)
				break
			}
		}
	}
	if len(shielded) == 0 {
		return "lift: none shielded"
	}
	sort.Strings(shielded)
	id := shielded[m.rng.IntN(len(shielded))]
	code, body := m.call("officer", "POST", "/v1/children/"+id+"/shield/lift", map[string]any{"reason": "review: risk has passed"})
	if code == http.StatusConflict {
		// Guarded only, or the model marked it through a merge the hub
		// has not carried: the second would be a failure of check().
		return "lift " + id + ": not shielded"
	}
	if code != http.StatusOK {
		m.t.Fatalf("lift %s: %d %s", id, code, body)
	}
	for _, k := range m.srcs[id] {
		delete(m.marked, k)
	}
	return "lift " + id
}

func (m *shieldModel) twoChildren() (string, string) {
	var ids []string
	for id := range m.srcs {
		ids = append(ids, id)
	}
	if len(ids) < 2 {
		return "", ""
	}
	sort.Strings(ids)
	a := m.rng.IntN(len(ids))
	b := m.rng.IntN(len(ids) - 1)
	if b >= a {
		b++
	}
	return ids[a], ids[b]
}

func (m *shieldModel) merge() string {
	a, b := m.twoChildren()
	if a == "" {
		return "merge: too few children"
	}
	code, body := m.call("oracle", "POST", "/v1/children/"+a+"/merge", map[string]any{"other": b, "reason": "same child"})
	if code != http.StatusOK && code != http.StatusConflict {
		m.t.Fatalf("merge: %d %s", code, body)
	}
	if code == http.StatusOK {
		var r struct {
			Survivor string `json:"survivor"`
		}
		_ = json.Unmarshal(body, &r)
		abs := a
		if abs == r.Survivor {
			abs = b
		}
		m.merges = append(m.merges, [2]string{r.Survivor, abs})
	}
	return fmt.Sprintf("merge %s %s: %d", a, b, code)
}

func (m *shieldModel) split() string {
	var ids []string
	for id, ks := range m.srcs {
		if len(ks) >= 2 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "split: none with two sources"
	}
	sort.Strings(ids)
	id := ids[m.rng.IntN(len(ids))]
	k := m.srcs[id][m.rng.IntN(len(m.srcs[id]))]
	s := m.sources[k]
	code, body := m.call("oracle", "POST", "/v1/children/"+id+"/split", map[string]any{
		"sources": []any{map[string]any{"agency": s.agency, "system": s.system, "record_id": s.id}}, "reason": "wrongly joined"})
	if code != http.StatusOK && code != http.StatusConflict {
		m.t.Fatalf("split: %d %s", code, body)
	}
	return fmt.Sprintf("split %s off %s: %d", k, id, code)
}

func (m *shieldModel) decide() string {
	if len(m.tasks) == 0 {
		return "decide: no open task"
	}
	code, body := m.call("oracle", "GET", "/v1/reviews?limit=500", nil)
	if code != http.StatusOK {
		m.t.Fatalf("reviews: %d %s", code, body)
	}
	var q struct {
		Tasks []struct {
			ID  int64  `json:"id"`
			Why string `json:"why"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal(body, &q)
	if len(q.Tasks) == 0 {
		return "decide: no open task"
	}
	t := q.Tasks[m.rng.IntN(len(q.Tasks))]
	task := t.ID
	d := []string{"link", "not-link"}[m.rng.IntN(2)]
	if t.Why == "correction conflict" {
		// A source contradicted a steward's correction: keep it or accept
		// the source (a new hidden value, or an old one again).
		d = map[string]string{"link": "keep-correction", "not-link": "accept-source"}[d]
	}
	code, body = m.call("oracle", "POST", fmt.Sprintf("/v1/reviews/%d/decision", task), map[string]any{"decision": d, "reason": "checked"})
	if code != http.StatusOK && code != http.StatusConflict {
		m.t.Fatalf("decide: %d %s", code, body)
	}
	return fmt.Sprintf("decide task %d %s: %d", task, d, code)
}

// sourceMerge: a health system registered the child twice and merged the
// two (an HL7 A40 as a canonical record).
func (m *shieldModel) sourceMerge() string {
	p := m.somePerson()
	a := m.newSource(p, "health")
	m.record(a, true, p.given)
	m.send(a)
	b := &source{agency: "health", system: a.system, id: "R" + m.token(), p: p}
	m.sources[b.key()] = b
	m.record(b, false, p.given)
	// The two records share their system: its name is unique to neither,
	// and either may be shown where the other is hidden.
	m.shared[a.system] = true
	a.hidden, b.hidden = without(a.hidden, a.system), without(b.hidden, a.system)
	b.body["child"].(map[string]any)["name"].(map[string]any)["family"] = p.family + "-" + m.token()
	m.send(b)
	m.settle()
	mr := map[string]any{"schema": "contactpoint.feed-record.v1", "operation": "merge", "child": a.body["child"],
		"merge":  map[string]any{"absorbed_record_id": b.id},
		"source": map[string]any{"agency": a.agency, "system": a.system, "record_id": a.id, "version": "2"}}
	raw, _ := json.Marshal(mr)
	outs, err := m.h.Intake.SubmitJSON(context.Background(), intake.Origin{Agency: a.agency, System: a.system, Format: "json", Channel: "http"}, [][]byte{raw})
	if err != nil || outs[0].Status != intake.StatusAccepted {
		m.t.Fatalf("source merge: %v %+v", err, outs)
	}
	b.withdrawn = true
	return "source merge " + b.key() + " into " + a.key()
}

// bridge sends a record whose NHS number is one person's and UPN
// another's (or the same person's, held on two children).
func (m *shieldModel) bridge() string {
	p, q := m.somePerson(), m.somePerson()
	s := m.newSource(p, "social-care")
	m.record(s, false, p.given)
	s.body["child"].(map[string]any)["identifiers"] = map[string]any{"nhs_number": p.nhs, "upn": q.upn}
	m.send(s)
	return "bridge " + s.key()
}

// quarantine sends a correction of a record with a forbidden field.
func (m *shieldModel) quarantine() string {
	s := m.someSource(true)
	if s == nil {
		return "quarantine: no standing record"
	}
	c := &source{agency: s.agency, system: s.system, id: s.id, p: s.p}
	m.record(c, true, s.p.given)
	secret := m.token()
	c.body["child"].(map[string]any)["diagnosis"] = "asthma " + secret
	raw, _ := json.Marshal(c.body)
	outs, err := m.h.Intake.SubmitJSON(context.Background(), intake.Origin{Agency: s.agency, System: s.system, Format: "json", Channel: "http"}, [][]byte{raw})
	if err != nil || outs[0].Status != intake.StatusQuarantined {
		m.t.Fatalf("quarantine: %v %+v", err, outs)
	}
	m.quar = append(m.quar, quarantined{src: s, hidden: c.hidden, forbidden: secret})
	return "quarantined correction of " + s.key()
}

// revealOne: the child-protection user breaks the glass on a restricted
// child, or leaves the one revealed.
func (m *shieldModel) revealOne() string {
	if m.reveal != "" {
		code, body := m.call("cp", "DELETE", "/v1/children/"+m.reveal+"/reveal", nil)
		if code != http.StatusOK && code != http.StatusNotFound {
			m.t.Fatalf("end reveal: %d %s", code, body)
		}
		id := m.reveal
		m.reveal = ""
		return "end reveal " + id
	}
	restricted := m.restricted()
	var ids []string
	for id := range restricted {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return "reveal: none shielded"
	}
	sort.Strings(ids)
	id := ids[m.rng.IntN(len(ids))]
	code, body := m.call("cp", "POST", "/v1/children/"+id+"/reveal", map[string]any{"reason": "section 47 enquiry tonight"})
	if code != http.StatusPreconditionRequired {
		m.t.Fatalf("reveal without the warning acknowledged: %d %s", code, body)
	}
	code, body = m.call("cp", "POST", "/v1/children/"+id+"/reveal", map[string]any{"reason": "section 47 enquiry tonight", "acknowledge_warning": true})
	if code != http.StatusCreated {
		m.t.Fatalf("reveal %s: %d %s", id, code, body)
	}
	// The shield officers see the reveal at once.
	code, body = m.call("officer", "GET", "/v1/shields/reveals", nil)
	if code != http.StatusOK || !strings.Contains(string(body), id) || !strings.Contains(string(body), m.users["cp"]) {
		m.t.Fatalf("reveal of %s not on the shield officers' list: %d %s", id, code, body)
	}
	m.reveal = id
	return "reveal " + id
}

// correct: a steward corrects a child's address (a new hidden value).
func (m *shieldModel) correct() string {
	id := m.someChild()
	if id == "" {
		return "correct: no child"
	}
	street := m.token()
	code, body := m.call("oracle", "POST", "/v1/children/"+id+"/corrections", map[string]any{"field": "address",
		"value": map[string]any{"lines": []string{"2 " + street + " Road"}, "postcode": m.postcode()}, "reason": "confirmed by phone"})
	if code != http.StatusCreated {
		m.t.Fatalf("correct %s: %d %s", id, code, body)
	}
	var r struct {
		ChildID string `json:"child_id"`
	}
	_ = json.Unmarshal(body, &r)
	m.fixes[r.ChildID] = append(m.fixes[r.ChildID], street)
	return "correct the address of " + id
}

// unmerge undoes one of the stewards' merges.
func (m *shieldModel) unmerge() string {
	if len(m.merges) == 0 {
		return "unmerge: no merge"
	}
	i := m.rng.IntN(len(m.merges))
	p := m.merges[i]
	m.merges = append(m.merges[:i], m.merges[i+1:]...)
	code, body := m.call("oracle", "POST", "/v1/children/"+p[0]+"/unmerge", map[string]any{"absorbed": p[1], "reason": "two children"})
	if code != http.StatusOK && code != http.StatusConflict && code != http.StatusNotFound {
		m.t.Fatalf("unmerge: %d %s", code, body)
	}
	return fmt.Sprintf("unmerge %s from %s: %d", p[1], p[0], code)
}

// erase erases a standing child (as the lifecycle does six years after
// archiving, here at once): its records' values are gone from every
// answer and from the event log, and every other child keeps its shield.
func (m *shieldModel) erase() string {
	ids := sortedKeys(m.srcs)
	if len(ids) < 2 {
		return "erase: too few children"
	}
	id := ids[m.rng.IntN(len(ids))]
	for _, x := range sortedKeys(m.ids) {
		if x == id || m.survivorOf(x) == id {
			m.erased[x] = true
		}
	}
	var fixed []string
	for _, f := range sortedKeys(m.fixes) {
		if f == id || m.survivorOf(f) == id {
			fixed = append(fixed, f)
		}
	}
	if err := m.h.Retention.Erase(context.Background(), uuid.MustParse(id), "steward-request", "model", "hub/model"); err != nil {
		m.t.Fatalf("erase %s: %v", id, err)
	}
	var values []string
	for _, k := range m.srcs[id] {
		for _, v := range m.sources[k].hidden {
			m.gone[v] = id
			if v == m.sources[k].system {
				// The agency's system, not the child's: its name is in the
				// subject every record it sends arrives on, and a stream's
				// index (index.db) keeps subject names until its next write.
				continue
			}
			values = append(values, v)
		}
		// Its records are no one's now: the model sends them no more.
		delete(m.sources, k)
		delete(m.marked, k)
	}
	for _, f := range fixed {
		for _, v := range m.fixes[f] {
			m.gone[v] = id
			values = append(values, v)
		}
		delete(m.fixes, f)
	}
	kept := m.merges[:0]
	for _, p := range m.merges {
		if m.survivorOf(p[0]) != id && m.survivorOf(p[1]) != id {
			kept = append(kept, p)
		}
	}
	m.merges = kept
	waitProjected(m.t, m.h)
	if code, body := m.call("oracle", "GET", "/v1/children/"+id, nil); code != http.StatusGone {
		m.t.Fatalf("erased child %s: %d %s", id, code, body)
	}
	if grepTree(m.t, filepath.Join(m.dataDir, "jetstream"), values, fmt.Sprintf("step %d: erased %s", len(m.trail)+1, id)) {
		logHolding(m.t, m.h, values)
	}
	return fmt.Sprintf("erase %s (%d records)", id, len(m.srcs[id]))
}

func (m *shieldModel) rebuild() string {
	if err := m.h.Dir.Rebuild(context.Background()); err != nil {
		m.t.Fatal(err)
	}
	return "rebuild directory"
}

// --- truth and checks ------------------------------------------------------

func (m *shieldModel) call(user, method, path string, body any) (int, []byte) {
	m.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+m.h.Addr()+path, rd)
	req.Header.Set("Authorization", "Bearer "+m.tokens[user])
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	m.calls++
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusUnauthorized {
		m.t.Fatalf("%s %s as %s: signed out: %s", method, path, user, b)
	}
	return resp.StatusCode, b
}

// settle waits for the linker and the directory, then reads the truth.
func (m *shieldModel) settle() {
	m.t.Helper()
	waitProjected(m.t, m.h)
	code, body := m.call("oracle", "GET", "/v1/links/export", nil)
	if code != http.StatusOK {
		m.t.Fatalf("export: %d %s", code, body)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		m.t.Fatal(err)
	}
	m.owner, m.srcs = map[string]string{}, map[string][]string{}
	for _, r := range rows[1:] {
		k := r[0] + "/" + r[1] + "/" + r[2]
		m.owner[k] = r[3]
		m.srcs[r[3]] = append(m.srcs[r[3]], k)
		m.ids[r[3]] = true
	}
	// The invariant as the model states it: a child holding a record
	// that was behind a shield is behind it, records and all.
	for _, ks := range m.srcs {
		any := false
		for _, k := range ks {
			any = any || m.marked[k]
		}
		if any {
			for _, k := range ks {
				m.marked[k] = true
			}
		}
	}
	code, body = m.call("oracle", "GET", "/v1/reviews?limit=500", nil)
	if code != http.StatusOK {
		m.t.Fatalf("reviews: %d %s", code, body)
	}
	var q struct {
		Tasks []struct {
			Child     string `json:"child_id"`
			Candidate string `json:"candidate_id"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal(body, &q)
	m.tasks = m.tasks[:0]
	for _, t := range q.Tasks {
		m.tasks = append(m.tasks, [2]string{t.Child, t.Candidate})
		m.ids[t.Child], m.ids[t.Candidate] = true, true
	}
}

func (m *shieldModel) isMarked(child string) bool {
	for _, k := range m.srcs[child] {
		if m.marked[k] {
			return true
		}
	}
	return false
}

// restricted is every child the model says must be treated as shielded:
// shielded ones, and those an open task pairs with a shielded one.
func (m *shieldModel) restricted() map[string]bool {
	out := map[string]bool{}
	for id := range m.srcs {
		if m.isMarked(id) {
			out[id] = true
		}
	}
	for _, t := range m.tasks {
		if m.isMarked(t[0]) {
			out[t[1]] = true
		}
		if m.isMarked(t[1]) {
			out[t[0]] = true
		}
	}
	return out
}

// secrets are the hidden values of every restricted child's records, and
// of every quarantined correction of them, each with the child it belongs
// to.
func (m *shieldModel) secrets(restricted map[string]bool) map[string]string {
	out := map[string]string{}
	for id := range restricted {
		for _, k := range m.srcs[id] {
			for _, v := range m.sources[k].hidden {
				out[v] = id
			}
		}
	}
	for _, q := range m.quar {
		if id := m.owner[q.src.key()]; restricted[id] {
			for _, v := range q.hidden {
				out[v] = id
			}
		}
	}
	for _, id := range sortedKeys(m.fixes) {
		if surv := m.survivorOf(id); restricted[surv] {
			for _, v := range m.fixes[id] {
				out[v] = surv
			}
		}
	}
	return out
}

func (m *shieldModel) check() {
	m.t.Helper()
	m.surv = map[string]string{}
	restricted := m.restricted()
	secrets := m.secrets(restricted)
	m.peak = max(m.peak, len(restricted))
	since := m.since
	m.since = time.Now()
	// Searches by a shield officer on hidden fields, which the audit trail
	// must then withhold from an auditor without the shield role.
	for _, k := range sortedKeys(m.owner) {
		if s := m.sources[k]; restricted[m.owner[k]] && s.body != nil && s.body["child"] != nil {
			pc := s.body["child"].(map[string]any)["address"].(map[string]any)["postcode"].(string)
			m.call("oracle", "GET", "/v1/children?"+url.Values{"family": {s.p.family}, "postcode": {pc}}.Encode(), nil)
		}
	}
	leak := func(user, what string, body []byte, except string) {
		m.t.Helper()
		s := string(body)
		for v, id := range secrets {
			if id != except && strings.Contains(s, v) {
				m.t.Fatalf("step %d: %s sees %q of restricted child %s through %s:\n%s", len(m.trail), user, v, id, what, clip(s, v))
			}
		}
		for _, q := range m.quar {
			if strings.Contains(s, q.forbidden) {
				m.t.Fatalf("step %d: %s sees a forbidden field's value through %s", len(m.trail), user, what)
			}
		}
		for v, id := range m.gone {
			if strings.Contains(s, v) {
				m.t.Fatalf("step %d: %s sees %q of erased child %s through %s:\n%s", len(m.trail), user, v, id, what, clip(s, v))
			}
		}
	}
	ids := make([]string, 0, len(m.ids))
	for id := range m.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, user := range checked {
		except := ""
		if user == "cp" {
			except = m.reveal // a reveal shows the record in full, to them alone
		}
		for _, id := range ids {
			code, body := m.call(user, "GET", "/v1/children/"+id, nil)
			leak(user, "GET /v1/children/"+id, body, except)
			if code == http.StatusOK && restricted[m.survivorOf(id)] && user != "cp" {
				var v struct {
					Notice *struct{ Shielded bool } `json:"notice"`
				}
				_ = json.Unmarshal(body, &v)
				if v.Notice == nil || !v.Notice.Shielded {
					m.t.Fatalf("step %d: %s sees restricted child %s (via %s) unshielded: %s", len(m.trail), user, m.survivorOf(id), id, body)
				}
			}
			_, body = m.call(user, "GET", "/fhir/Patient/"+id, nil)
			leak(user, "GET /fhir/Patient/"+id, body, "")
			_, body = m.call(user, "GET", "/v1/children/"+id+"/history", nil)
			leak(user, "GET /v1/children/"+id+"/history", body, "")
			_, body = m.call(user, "GET", "/v1/children/"+id+"?as_of="+url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano)), nil)
			leak(user, "GET /v1/children/"+id+"?as_of", body, "")
		}
		for _, p := range m.people {
			q := url.Values{"family": {p.family}, "birth_date": {p.dob}}
			_, body := m.call(user, "GET", "/v1/children?"+q.Encode(), nil)
			leak(user, "search by name", body, "")
			_, body = m.call(user, "GET", "/v1/children?nhs_number="+p.nhs, nil)
			leak(user, "search by NHS number", body, "")
			_, body = m.call(user, "GET", "/v1/children?upn="+p.upn, nil)
			leak(user, "search by UPN", body, "")
			_, body = m.call(user, "GET", "/fhir/Patient?"+url.Values{"family": {p.family}, "birthdate": {p.dob}}.Encode(), nil)
			leak(user, "FHIR search", body, "")
		}
		// A search on a hidden field must not find a restricted child.
		for _, k := range sortedKeys(m.owner) {
			s, id := m.sources[k], m.owner[k]
			if !restricted[id] || s.body == nil || s.body["child"] == nil {
				continue
			}
			c := s.body["child"].(map[string]any)
			pc := c["address"].(map[string]any)["postcode"].(string)
			former := c["previous_names"].([]any)[0].(map[string]any)["family"].(string)
			for _, q := range []url.Values{
				{"family": {s.p.family}, "postcode": {pc}},
				{"family": {former}, "birth_date": {s.p.dob}},
			} {
				code, body := m.call(user, "GET", "/v1/children?"+q.Encode(), nil)
				if code == http.StatusOK && strings.Contains(string(body), id) {
					m.t.Fatalf("step %d: %s found restricted child %s by a hidden field (%v): %s", len(m.trail), user, id, q, body)
				}
				leak(user, "search on a hidden field", body, "")
			}
			_, body := m.call(user, "GET", "/fhir/Patient?"+url.Values{"family": {s.p.family}, "address-postalcode": {pc}}.Encode(), nil)
			if strings.Contains(string(body), id) {
				m.t.Fatalf("step %d: %s found restricted child %s by postcode through FHIR", len(m.trail), user, id)
			}
		}
		m.checkSteward(user, leak)
		m.checkAudit(user, ids, restricted, secrets, since)
	}
	// No one, shield officers included, ever sees a forbidden field's value.
	m.eachListed("oracle", "/v1/quarantine?limit=500", "entries", "seq", "/v1/quarantine/", func(_, b []byte) {
		for _, q := range m.quar {
			if strings.Contains(string(b), q.forbidden) {
				m.t.Fatalf("quarantine keeps a forbidden field's value word for word: %s", b)
			}
		}
	})
}

// listOrItem names what eachListed handed over: the list (no list body
// yet) or one of its items.
func listOrItem(list []byte, listName, itemName string) string {
	if list == nil {
		return listName
	}
	return itemName
}

// eachListed reads a list as user, then each item it lists (the item's
// path is prefix + its key field), and hands fn the list's body and each
// item's.
func (m *shieldModel) eachListed(user, list, items, key, prefix string, fn func(listBody, itemBody []byte)) {
	code, body := m.call(user, "GET", list, nil)
	fn(nil, body)
	if code != http.StatusOK {
		return
	}
	var page map[string][]map[string]json.RawMessage
	_ = json.Unmarshal(body, &page)
	for _, it := range page[items] {
		_, b := m.call(user, "GET", prefix+string(it[key]), nil)
		fn(body, b)
	}
}

func (m *shieldModel) survivorOf(id string) string {
	if _, ok := m.srcs[id]; ok {
		return id
	}
	if s, ok := m.surv[id]; ok {
		return s
	}
	var v struct{ ID string }
	_, body := m.call("oracle", "GET", "/v1/children/"+id, nil)
	_ = json.Unmarshal(body, &v)
	m.surv[id] = v.ID
	return v.ID
}

func (m *shieldModel) checkSteward(user string, leak func(user, what string, body []byte, except string)) {
	_, body := m.call(user, "GET", "/v1/links/export", nil)
	leak(user, "links export", body, "")
	m.eachListed(user, "/v1/reviews?limit=500", "tasks", "id", "/v1/reviews/", func(list, b []byte) {
		leak(user, listOrItem(list, "review queue", "review task"), b, "")
	})
	m.eachListed(user, "/v1/quarantine?limit=500", "entries", "seq", "/v1/quarantine/", func(list, b []byte) {
		leak(user, listOrItem(list, "quarantine list", "quarantine entry"), b, "")
	})
	// Errors name no record data.
	for _, id := range sortedKeys(m.srcs) {
		_, b := m.call(user, "POST", "/v1/children/"+id+"/merge", map[string]any{"other": id, "reason": "x"})
		leak(user, "merge error", b, "")
		break
	}
}

// checkAudit reads the trail as the auditor: an entry that names a
// restricted child must not show a hidden value in its criteria.
func (m *shieldModel) checkAudit(user string, ids []string, restricted map[string]bool, secrets map[string]string, since time.Time) {
	if user != "auditor" {
		return
	}
	waitAudited(m.t, m.h)
	var paths []string
	for _, id := range ids {
		paths = append(paths, "/v1/audit/children/"+id)
	}
	// What each user did since the last check (the whole trail grows with
	// every request the model makes).
	for _, name := range sortedKeys(m.users) {
		paths = append(paths, "/v1/audit/practitioners/"+m.users[name]+"?from="+url.QueryEscape(since.UTC().Format(time.RFC3339)))
	}
	for _, p := range paths {
		code, body := m.call(user, "GET", p, nil)
		if code != http.StatusOK {
			m.t.Fatalf("%s: %d %s", p, code, body)
		}
		var out struct {
			Entries []struct {
				Children []string          `json:"children"`
				Criteria map[string]string `json:"criteria"`
			} `json:"entries"`
		}
		_ = json.Unmarshal(body, &out)
		for _, e := range out.Entries {
			named := false
			for _, c := range e.Children {
				named = named || restricted[m.survivorOfKnown(c)]
			}
			if !named {
				continue
			}
			for k, v := range e.Criteria {
				for s, id := range secrets {
					if strings.Contains(v, s) {
						m.t.Fatalf("step %d: auditor sees %s=%q of restricted child %s in %s", len(m.trail), k, v, id, p)
					}
				}
			}
		}
	}
}

// survivorOfKnown resolves a child id an audit entry names; ids the model
// never saw (none should appear) count as unrestricted.
func (m *shieldModel) survivorOfKnown(id string) string {
	if !m.ids[id] {
		return id
	}
	return m.survivorOf(id)
}

// without is vs with v left out.
func without(vs []string, v string) []string {
	out := vs[:0:0]
	for _, x := range vs {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func sortedKeys[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func clip(s, v string) string {
	i := strings.Index(s, v)
	lo, hi := max(0, i-300), min(len(s), i+len(v)+300)
	return s[lo:hi]
}
