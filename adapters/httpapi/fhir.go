package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"contactpoint/adapters/fhir"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
	"contactpoint/domain/child"
	"contactpoint/projections/directory"
)

// FHIR R4 facade: GET /fhir/metadata, GET /fhir/.well-known/smart-configuration,
// GET /fhir/Patient?…, POST /fhir/Patient/_search, GET /fhir/Patient/{id},
// GET /fhir/Patient/{id}/_history/{vid}.
// Same search rules and access policy as /v1; every error under /fhir/,
// wherever it is raised, is an OperationOutcome with fixed text.

// FHIROptions configure the FHIR facade.
type FHIROptions struct {
	// TrustedProxies are the addresses whose X-Forwarded-Proto and
	// X-Forwarded-Host are believed when the facade writes absolute URLs
	// (fullUrl, paging links). From anyone else they are ignored: a client
	// could otherwise make the hub hand out links to a host of its choosing.
	TrustedProxies []netip.Prefix
	// Rate is how many FHIR requests a second one practitioner may make,
	// with Burst in hand; beyond it the answer is 429 with Retry-After.
	// Zero leaves the facade unthrottled.
	Rate  float64
	Burst int
	// OIDC says whether OpenID Connect sign-in is configured, for
	// .well-known/smart-configuration.
	OIDC bool
	// Systems are the hub's own identifier systems, derived from the
	// deployment's public URL; the zero value is fhir.DefaultSystems.
	Systems fhir.Systems

	once    sync.Once
	limiter *limiter
}

// ParseTrustedProxies reads addresses and CIDR prefixes.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func writeFHIR(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", fhir.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fhirError(w http.ResponseWriter, status int, code, msg string) {
	writeFHIR(w, status, fhir.OutcomeFor(status, code, "", msg))
}

func fhirSpine(w http.ResponseWriter, status int, code, spine, msg string) {
	writeFHIR(w, status, fhir.OutcomeFor(status, code, spine, msg))
}

// isFHIR reports whether a path belongs to the facade, whose clients read
// only FHIR resources.
func isFHIR(path string) bool { return path == "/fhir" || strings.HasPrefix(path, "/fhir/") }

// fhirErrors makes every error answer under /fhir/ an OperationOutcome,
// including those written before a FHIR handler runs: authentication and
// role refusals, the router's 404 and 405, body limits and panics. The
// status and the headers that go with it (WWW-Authenticate, Allow,
// Retry-After) are kept; the message is the JSON error's, which carries no
// data about a child, or fixed text for the router's plain-text answers.
func fhirErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isFHIR(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ow := &outcomeWriter{ResponseWriter: w}
		next.ServeHTTP(ow, r)
		ow.finish()
	})
}

type outcomeWriter struct {
	http.ResponseWriter
	status   int
	wrote    bool
	captured bool
	body     bytes.Buffer
}

func (o *outcomeWriter) WriteHeader(status int) {
	if o.wrote {
		return
	}
	o.wrote, o.status = true, status
	ct := o.Header().Get("Content-Type")
	if status >= 400 && !strings.Contains(ct, "fhir+json") {
		o.captured = true
		return
	}
	o.ResponseWriter.WriteHeader(status)
}

func (o *outcomeWriter) Write(b []byte) (int, error) {
	if !o.wrote {
		o.WriteHeader(http.StatusOK)
	}
	if o.captured {
		if o.body.Len() < 64<<10 {
			o.body.Write(b)
		}
		return len(b), nil
	}
	return o.ResponseWriter.Write(b)
}

func (o *outcomeWriter) Flush() {
	if f, ok := o.ResponseWriter.(http.Flusher); ok && !o.captured {
		f.Flush()
	}
}

func (o *outcomeWriter) finish() {
	if !o.captured {
		return
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	msg := ""
	if json.Unmarshal(o.body.Bytes(), &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
	}
	code := ""
	switch e.Error.Code {
	case "not-eligible":
		code = "forbidden"
	case "too-large", "body-too-large":
		code = "too-costly"
	}
	if msg == "" {
		switch o.status {
		case http.StatusNotFound:
			msg = "no such resource type or route: the facade serves Patient, metadata and .well-known/smart-configuration"
		case http.StatusMethodNotAllowed:
			msg = "method not allowed here; see the Allow header"
		default:
			msg = http.StatusText(o.status)
		}
	}
	h := o.Header()
	h.Del("Content-Length")
	h.Del("X-Content-Type-Options")
	writeFHIR(o.ResponseWriter, o.status, fhir.OutcomeFor(o.status, code, "", msg))
}

// origin is the hub's scheme and host as the client reached it: through a
// trusted proxy, the one the proxy names.
func (s *Server) origin(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if s.trustedProxy(r) {
		if p := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); validHost(h) {
			host = h
		}
	}
	return scheme + "://" + host
}

func (s *Server) base(r *http.Request) string { return s.origin(r) + "/fhir" }

func (s *Server) systems() fhir.Systems {
	if s.FHIR.Systems.UPN == "" {
		return fhir.DefaultSystems
	}
	return s.FHIR.Systems
}

func (s *Server) trustedProxy(r *http.Request) bool {
	if len(s.FHIR.TrustedProxies) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.FHIR.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// firstValue is the first of a comma-separated header's values: the one
// the client's nearest proxy set, when proxies chain.
func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}

func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return false
		}
	}
	return true
}

// negotiate answers 406 unless the client accepts JSON: _format wins over
// Accept, as FHIR says. The facade offers FHIR JSON only.
func negotiate(w http.ResponseWriter, r *http.Request, q url.Values) bool {
	if f := q.Get("_format"); f != "" {
		// A "+" left unescaped in the query arrives as a space.
		mt := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(f)), " ", "+")
		if m, _, err := mime.ParseMediaType(mt); err == nil {
			mt = m
		}
		switch mt {
		case "json", "application/json", "application/fhir+json":
			return true
		}
		fhirSpine(w, http.StatusNotAcceptable, "not-supported", fhir.SpineNotAcceptable, "_format must be json (application/fhir+json): the facade does not offer XML or other formats")
		return false
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		m, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if qv, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(qv, 64); err == nil && f == 0 {
				continue
			}
		}
		switch m {
		case "*/*", "application/*", "application/json", "application/fhir+json", "application/json+fhir":
			return true
		}
	}
	fhirSpine(w, http.StatusNotAcceptable, "not-supported", fhir.SpineNotAcceptable, "the facade answers application/fhir+json only; send Accept: application/fhir+json")
	return false
}

// limiter is a token bucket per practitioner.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// allow takes a token for who, or says how long until one is there.
func (l *limiter) allow(who string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[who]
	if !ok {
		if len(l.buckets) > 100000 {
			// Forget idle callers rather than grow without bound: a full
			// bucket is what a forgotten caller gets back anyway.
			for k, v := range l.buckets {
				if now.Sub(v.at).Seconds()*l.rate >= l.burst {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[who] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// throttled answers 429 when the practitioner has used their share.
func (s *Server) throttled(w http.ResponseWriter, r *http.Request) bool {
	o := &s.FHIR
	if o.Rate <= 0 {
		return false
	}
	o.once.Do(func() {
		burst := float64(o.Burst)
		if burst < 1 {
			burst = max(1, o.Rate)
		}
		o.limiter = &limiter{rate: o.Rate, burst: burst, buckets: map[string]*bucket{}}
	})
	ok, wait := o.limiter.allow(viewer(r).ID, s.now())
	if ok {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
	fhirSpine(w, http.StatusTooManyRequests, "throttled", fhir.SpineTooManyRequests, "too many requests from this practitioner; wait as Retry-After says")
	return true
}

func (s *Server) fhirMetadata(w http.ResponseWriter, r *http.Request) {
	if !negotiate(w, r, r.URL.Query()) {
		return
	}
	writeFHIR(w, http.StatusOK, fhir.CapabilityStatement(s.base(r), s.origin(r), s.now().UTC().Format(time.DateOnly), s.systems()))
}

func (s *Server) fhirSmart(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(fhir.SmartConfiguration(s.origin(r), s.FHIR.OIDC))
}

// fhirParams are a search's parameters: the query, and for POST _search
// the form-encoded body as well (FHIR treats the two as one).
func fhirParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if r.Method != http.MethodPost {
		return r.URL.Query(), true
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		fhirSpine(w, http.StatusUnsupportedMediaType, "not-supported", fhir.SpineUnsupported, "POST _search takes application/x-www-form-urlencoded parameters")
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		fhirSpine(w, http.StatusBadRequest, "invalid", fhir.SpineInvalidSearchData, "the form body is not valid URL encoding or is over 64 KiB")
		return nil, false
	}
	// The query string was checked before routing; the body is checked
	// here by the same rule.
	for k, vs := range r.PostForm {
		bad := hasControl(k)
		for _, v := range vs {
			bad = bad || hasControl(v)
		}
		if bad {
			name := k
			if hasControl(k) || len(k) > 40 {
				name = "(a parameter name)"
			}
			fhirSpine(w, http.StatusBadRequest, "invalid", fhir.SpineInvalidSearchData, fmt.Sprintf("parameter %q contains a control character", name))
			return nil, false
		}
	}
	return r.Form, true
}

// fhirHit is a match on its way to an entry.
type fhirHit struct {
	directory.Hit
	crit directory.Criteria // the search that found it, for its score
}

func (s *Server) fhirSearch(w http.ResponseWriter, r *http.Request) {
	q, ok := fhirParams(w, r)
	if !ok || !negotiate(w, r, q) || s.throttled(w, r) {
		return
	}
	sr, err := fhir.ParseSearch(q, s.systems())
	if err != nil {
		var pe *fhir.ParamError
		spine := fhir.SpineInvalidSearchData
		if errors.As(err, &pe) {
			spine = pe.Spine
		}
		code := "invalid"
		if spine == fhir.SpineMissingValue {
			code = "required"
		}
		fhirSpine(w, http.StatusBadRequest, code, spine, err.Error())
		return
	}
	v := viewer(r)
	if !access.CanRead(v) {
		fhirError(w, http.StatusForbidden, "forbidden", "your role does not allow searching the directory")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var hits []fhirHit
	if sr.ID != "" {
		hits, err = s.fhirByID(ctx, sr.ID)
	} else {
		hits, err = s.fhirCollect(ctx, sr, access.SeesShielded(v))
	}
	var tooMany *directory.TooManyError
	switch {
	case errors.As(err, &tooMany):
		fhirSpine(w, http.StatusUnprocessableEntity, "multiple-matches", fhir.SpineTooManyMatches, tooMany.Error())
		return
	case err != nil:
		s.Log.Error("fhir search failed", "err", err)
		fhirError(w, http.StatusServiceUnavailable, "transient", "the directory is unavailable; try again")
		return
	}
	total := len(hits)
	if sr.MaxResults > 0 && total > sr.MaxResults {
		fhirSpine(w, http.StatusUnprocessableEntity, "multiple-matches", fhir.SpineTooManyMatches,
			fmt.Sprintf("more than %d patients match (_max-results); add a given name, an exact birth date, a postcode or an identifier", sr.MaxResults))
		return
	}
	page := hits
	if sr.MaxResults == 0 {
		page = hits[min(sr.Offset, total):min(sr.Offset+sr.Count, total)]
	}
	if sr.Summary == "count" {
		page = nil
	}
	// Every hit passes the policy before anything of it is written, and
	// the search is audited with the ids returned before the answer goes.
	type shown struct {
		view child.View
		hit  fhirHit
	}
	var out []shown
	for _, h := range page {
		if sv, ok := s.Policy.View(r, h.View); ok {
			out = append(out, shown{sv, h})
		}
	}
	ids := make([]string, len(out))
	for i, o := range out {
		ids[i] = o.view.ChildID
	}
	crit := map[string]string{}
	for k, v := range sr.Audit {
		crit[k] = v
	}
	for _, c := range sr.Criteria {
		for k, v := range searchCriteria(c) {
			crit[k] = v
		}
	}
	if err := s.recordRead(r, audit.Entry{Action: audit.ActSearch, Criteria: crit, Children: ids, Status: http.StatusOK}); err != nil {
		fhirError(w, http.StatusServiceUnavailable, "transient", auditUnavailable)
		return
	}
	base := s.base(r)
	b := fhir.Bundle{ResourceType: "Bundle", Type: "searchset", Total: &total, Link: s.pageLinks(base, q, sr, total)}
	for _, o := range out {
		p := fhir.FromView(o.view, s.systems())
		p.Meta.VersionID = strconv.FormatUint(o.hit.Seq, 10)
		res, err := fhir.Shape(p, sr.Summary, sr.Elements)
		if err != nil {
			s.Log.Error("fhir search: shape", "err", err)
			fhirError(w, http.StatusInternalServerError, "exception", "internal error")
			return
		}
		b.Entry = append(b.Entry, fhir.BundleEntry{FullURL: base + "/Patient/" + o.view.ChildID, Resource: res,
			Search: fhir.Match(fhir.Score(o.hit.Score, o.hit.crit))})
	}
	writeFHIR(w, http.StatusOK, b)
}

// pageLinks are self, first, previous, next and last, each a GET URL with
// the search's own parameters and the page's _offset.
func (s *Server) pageLinks(base string, q url.Values, sr fhir.Search, total int) []fhir.BundleLink {
	at := func(offset int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "_offset" && k != "_count" {
				v[k] = vs
			}
		}
		v.Set("_count", strconv.Itoa(sr.Count))
		if offset > 0 {
			v.Set("_offset", strconv.Itoa(offset))
		}
		return base + "/Patient?" + v.Encode()
	}
	links := []fhir.BundleLink{{Relation: "self", URL: at(sr.Offset)}}
	if sr.MaxResults > 0 || sr.Summary == "count" || sr.Count == 0 {
		return links
	}
	last := 0
	if total > 0 {
		last = (total - 1) / sr.Count * sr.Count
	}
	links = append(links, fhir.BundleLink{Relation: "first", URL: at(0)})
	if sr.Offset > 0 {
		links = append(links, fhir.BundleLink{Relation: "previous", URL: at(max(0, sr.Offset-sr.Count))})
	}
	if sr.Offset+sr.Count < total {
		links = append(links, fhir.BundleLink{Relation: "next", URL: at(sr.Offset + sr.Count)})
	}
	links = append(links, fhir.BundleLink{Relation: "last", URL: at(last)})
	return links
}

// fhirCollect runs a search's directory searches and returns every match,
// best first, up to the window: more than the window (or than PDS's
// _max-results) is TooManyError, because the directory is not for
// browsing. Each page is cut from this list, so paging needs no state.
func (s *Server) fhirCollect(ctx context.Context, sr fhir.Search, seeShielded bool) ([]fhirHit, error) {
	limit := fhir.Window
	if sr.MaxResults > 0 {
		limit = sr.MaxResults
	}
	best := map[string]fhirHit{}
	for _, c := range sr.Criteria {
		c.SeeShielded = seeShielded
		c.Limit = directory.MaxCap
		for c.Offset = 0; ; c.Offset += directory.MaxCap {
			batch, err := s.Store.SearchPage(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("fhir search: %w", err)
			}
			more := len(batch) > directory.MaxCap
			if more {
				batch = batch[:directory.MaxCap]
			}
			for _, h := range batch {
				if !keep(h, sr) {
					continue
				}
				if old, ok := best[h.View.ChildID]; !ok || fhir.Score(h.Score, c) > fhir.Score(old.Score, old.crit) {
					best[h.View.ChildID] = fhirHit{h, c}
				}
			}
			if !more || c.Offset+directory.MaxCap > limit {
				if more && len(best) > limit {
					return nil, &directory.TooManyError{Cap: limit}
				}
				break
			}
		}
	}
	if len(best) > limit && sr.MaxResults == 0 {
		return nil, &directory.TooManyError{Cap: limit}
	}
	out := make([]fhirHit, 0, len(best))
	for _, h := range best {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool {
		si, sj := fhir.Score(out[i].Score, out[i].crit), fhir.Score(out[j].Score, out[j].crit)
		if si != sj {
			return si > sj
		}
		return out[i].View.ChildID < out[j].View.ChildID
	})
	return out, nil
}

// keep applies the name rules the directory's ranked search does not:
// family:exact, PDS's _exact-match and _fuzzy-match=false. They look at the
// current name only, which every viewer may see.
func keep(h directory.Hit, sr fhir.Search) bool {
	var n struct{ family, given string }
	if h.View.Name != nil {
		n.family, n.given = h.View.Name.Value.Family, h.View.Name.Value.Given
	}
	if sr.FamilyExact != "" && n.family != sr.FamilyExact {
		return false
	}
	if !sr.Exact && !sr.NotFuzzy {
		return true
	}
	c := sr.Criteria[0]
	for _, cr := range sr.Criteria {
		// A one-word name is two searches; the hit came from one of them,
		// and it is exact if either name matches.
		if strings.EqualFold(cr.Family, n.family) && cr.Family != "" || strings.EqualFold(cr.Given, n.given) && cr.Given != "" {
			c = cr
		}
	}
	if f := c.Family; f != "" && !strings.EqualFold(strings.TrimSpace(f), n.family) {
		return false
	}
	if g := strings.TrimSpace(c.Given); g != "" {
		if sr.Exact && !strings.EqualFold(g, n.given) {
			return false
		}
		if !sr.Exact && !strings.HasPrefix(strings.ToLower(n.given), strings.ToLower(g)) {
			return false
		}
	}
	return true
}

// fhirByID is a search by _id: the child with that id, or the survivor an
// absorbed id leads to — never the absorbed child itself.
func (s *Server) fhirByID(ctx context.Context, id string) ([]fhirHit, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, nil
	}
	v, seq, err := s.Store.GetAt(ctx, u)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fhir search by id: %w", err)
	}
	return []fhirHit{{Hit: directory.Hit{View: v, Score: 1, Seq: seq}}}, nil
}

// etag is the weak entity tag of a version: the child's CHILDREN sequence.
func etag(seq uint64) string { return `W/"` + strconv.FormatUint(seq, 10) + `"` }

// notModified reports whether If-None-Match names the current version.
func notModified(r *http.Request, tag string) bool {
	for _, t := range strings.Split(r.Header.Get("If-None-Match"), ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == tag || "W/"+t == tag {
			return true
		}
	}
	return false
}

func (s *Server) fhirRead(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !negotiate(w, r, q) || s.throttled(w, r) {
		return
	}
	for k := range q {
		switch k {
		case "_format", "_summary", "_elements":
		default:
			fhirSpine(w, http.StatusBadRequest, "invalid", fhir.SpineInvalidValue, fmt.Sprintf("read takes _format, _summary and _elements only, not %q", k))
			return
		}
	}
	summary := q.Get("_summary")
	switch summary {
	case "", "true", "false", "data", "text":
	default:
		fhirSpine(w, http.StatusBadRequest, "invalid", fhir.SpineInvalidValue, "_summary must be true, false, data or text on a read")
		return
	}
	var elements []string
	for _, e := range strings.Split(q.Get("_elements"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			elements = append(elements, e)
		}
	}
	if !access.CanRead(viewer(r)) {
		fhirError(w, http.StatusForbidden, "forbidden", "your role does not allow reading records")
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		fhirSpine(w, http.StatusNotFound, "not-found", fhir.SpineInvalidResourceID, "no Patient with that id: a Patient id is a UUID")
		return
	}
	// A vread names a version; a read does not.
	var want uint64
	vread := r.PathValue("vid") != ""
	if vread {
		if want, err = strconv.ParseUint(r.PathValue("vid"), 10, 64); err != nil {
			fhirSpine(w, http.StatusNotFound, "not-found", fhir.SpineResourceNotFound, "no such version of this Patient: a versionId is a whole number")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v, seq, err := s.Store.GetAt(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "not-found", Subject: id.String(), Status: http.StatusNotFound}) {
			return
		}
		fhirSpine(w, http.StatusNotFound, "not-found", fhir.SpineResourceNotFound, "no Patient with that id")
		return
	}
	if err != nil {
		s.Log.Error("fhir read failed", "err", err)
		fhirError(w, http.StatusServiceUnavailable, "transient", "the directory is unavailable; try again")
		return
	}
	// The survivor's view passes the policy on a vread as on a read, so
	// that an absorbed id answers nothing a read of it would not.
	shown, ok := s.Policy.View(r, v)
	if !ok {
		fhirSpine(w, http.StatusNotFound, "not-found", fhir.SpineResourceNotFound, "no Patient with that id")
		return
	}
	restricted := shown.Notice != nil && shown.Notice.Shielded
	base := s.base(r)
	if vread && shown.ChildID != id.String() {
		s.fhirReplaced(ctx, w, r, id, want, shown.ChildID, restricted, summary, elements)
		return
	}
	if vread && want != seq {
		// Only the current version is kept (readHistory false).
		if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "not-found", Subject: id.String(), Status: http.StatusNotFound}) {
			return
		}
		fhirSpine(w, http.StatusNotFound, "not-found", fhir.SpineResourceNotFound, "no such version of this Patient: only the current version is served; read the Patient without a version")
		return
	}
	// The survivor replaces the ids it absorbed. A restricted Patient
	// names only the id the reader asked for, which they knew already:
	// the others are not in what the policy showed.
	abs, err := s.Store.Absorbed(ctx, []string{v.ChildID})
	if err != nil {
		s.Log.Error("fhir read: absorbed ids", "err", err)
		fhirError(w, http.StatusServiceUnavailable, "transient", "the directory is unavailable; try again")
		return
	}
	var replaces []fhir.Version
	for _, a := range abs[v.ChildID] {
		if !restricted || a.ID == id.String() {
			replaces = append(replaces, fhir.Version{ID: a.ID, Seq: a.Seq})
		}
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Children: viewed(id.String(), shown.ChildID), Status: http.StatusOK}) {
		return
	}
	tag := etag(seq)
	w.Header().Set("ETag", tag)
	w.Header().Set("Content-Location", base+"/Patient/"+shown.ChildID+"/_history/"+strconv.FormatUint(seq, 10))
	if !shown.UpdatedAt.IsZero() {
		w.Header().Set("Last-Modified", shown.UpdatedAt.UTC().Format(http.TimeFormat))
	}
	if notModified(r, tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	p := fhir.FromView(shown, s.systems())
	p.Meta.VersionID = strconv.FormatUint(seq, 10)
	p.Superseded(replaces)
	res, err := fhir.Shape(p, summary, elements)
	if err != nil {
		s.Log.Error("fhir read: shape", "err", err)
		fhirError(w, http.StatusInternalServerError, "exception", "internal error")
		return
	}
	writeFHIR(w, http.StatusOK, res)
	// Cache-Control no-store stays: a record may be shielded at any
	// moment, and no cache should keep what it showed before.
}

// fhirReplaced answers the vread of an absorbed child's last version: the
// record as it ended, inactive and replaced by the survivor, with no data
// (the survivor's view has already passed the policy; nothing of it is
// written here but its id, which a read of the absorbed id answers too).
// Any other version of an absorbed id is not kept.
func (s *Server) fhirReplaced(ctx context.Context, w http.ResponseWriter, r *http.Request, id uuid.UUID, want uint64, survivor string, restricted bool, summary string, elements []string) {
	own, absorbed, err := s.Store.Own(ctx, id)
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		s.Log.Error("fhir vread: own row", "err", err)
		fhirError(w, http.StatusServiceUnavailable, "transient", "the directory is unavailable; try again")
		return
	}
	if err != nil || !absorbed || own != want {
		if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.Refused, Reason: "not-found", Subject: id.String(), Status: http.StatusNotFound}) {
			return
		}
		fhirSpine(w, http.StatusNotFound, "not-found", fhir.SpineResourceNotFound, "no such version of this Patient: an absorbed Patient has only its last version, which the survivor's replaces link names")
		return
	}
	if !s.audited(w, r, audit.Entry{Action: audit.ActView, Outcome: audit.OK, Children: viewed(id.String(), survivor), Status: http.StatusOK}) {
		return
	}
	tag := etag(own)
	w.Header().Set("ETag", tag)
	w.Header().Set("Content-Location", s.base(r)+"/Patient/"+id.String()+"/_history/"+strconv.FormatUint(own, 10))
	if notModified(r, tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	p := fhir.Replaced(fhir.Version{ID: id.String(), Seq: own}, survivor, restricted)
	res, err := fhir.Shape(p, summary, elements)
	if err != nil {
		s.Log.Error("fhir vread: shape", "err", err)
		fhirError(w, http.StatusInternalServerError, "exception", "internal error")
		return
	}
	writeFHIR(w, http.StatusOK, res)
}

// fhirHistory answers the history interaction, which the facade does not
// offer: the directory keeps each child's current version only, and the
// history of a record (corrections, merges, shields) is the stewards'
// timeline behind its own roles, not a practitioner's read.
func (s *Server) fhirHistory(w http.ResponseWriter, r *http.Request) {
	fhirSpine(w, http.StatusBadRequest, "not-supported", fhir.SpineUnsupported,
		"the history interaction is not offered: read Patient/{id} for the current version, or vread the version a replaces link names")
}
