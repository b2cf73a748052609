package access

import (
	"context"
	"errors"
	"slices"
)

// Who a route is for.
type Audience int

const (
	// Public routes answer anyone: health checks and sign-in itself.
	Public Audience = iota
	// Agency routes answer an agency system holding an API key.
	Agency
	// Staff routes answer a signed-in practitioner who is eligible now and
	// holds one of the route's roles (any role when none are listed).
	Staff
)

// Rule is who may call one route.
type Rule struct {
	Audience Audience
	Roles    []string
}

// readers may search for children and open their records.
var readers = []string{RolePractitioner, RoleShield, RoleSteward, RoleChildProtection}

// Routes is every HTTP route of the hub, keyed by its ServeMux pattern, with
// who may call it. A route missing here is refused to everyone: adding a
// route means adding its line, and a test holds the two lists together.
var Routes = map[string]Rule{
	"GET /healthz":                    {Audience: Public},
	"GET /readyz":                     {Audience: Public}, // readiness: checks by name, no data
	"GET /version":                    {Audience: Public}, // the build: version and revision, no data
	"GET /{$}":                        {Audience: Public}, // the practitioners' pages: static, data only through the API below
	"GET /assets/{name}":              {Audience: Public},
	"POST /v1/auth/login":             {Audience: Public},
	"GET /v1/auth/oidc/login":         {Audience: Public}, // only when OpenID Connect is configured
	"GET /v1/auth/oidc/callback":      {Audience: Public},
	"POST /v1/auth/logout":            {Audience: Staff},
	"POST /v1/auth/token":             {Audience: Staff},
	"GET /v1/auth/me":                 {Audience: Staff},
	"POST /v1/feeds/{agency}/records": {Audience: Agency},
	"POST /v1/feeds/{agency}/files":   {Audience: Agency},

	"GET /v1/children":      {Audience: Staff, Roles: readers},
	"GET /v1/children/{id}": {Audience: Staff, Roles: readers},

	"POST /v1/children/{id}/shield":      {Audience: Staff, Roles: []string{RoleShield}},
	"DELETE /v1/children/{id}/shield":    {Audience: Staff, Roles: []string{RoleShield}},
	"POST /v1/children/{id}/shield/lift": {Audience: Staff, Roles: []string{RoleShield}},
	"GET /v1/shields/due":                {Audience: Staff, Roles: []string{RoleShield}},
	"GET /v1/shields/reveals":            {Audience: Staff, Roles: []string{RoleShield}},
	"POST /v1/children/{id}/reveal":      {Audience: Staff, Roles: []string{RoleChildProtection}},
	"DELETE /v1/children/{id}/reveal":    {Audience: Staff, Roles: []string{RoleChildProtection}},
	"POST /v1/children/{id}/involvement": {Audience: Staff, Roles: []string{RolePractitioner}},

	// The capability statement describes the API and holds no data.
	"GET /fhir/metadata":     {Audience: Public},
	"GET /fhir/Patient":      {Audience: Staff, Roles: readers},
	"GET /fhir/Patient/{id}": {Audience: Staff, Roles: readers},
	// vread: the current version, or an absorbed id's last (replaced-by).
	"GET /fhir/Patient/{id}/_history/{vid}": {Audience: Staff, Roles: readers},
	// history is not offered; the answer says so, to a signed-in reader.
	"GET /fhir/Patient/{id}/_history": {Audience: Staff, Roles: readers},
	"GET /fhir/Patient/_history":      {Audience: Staff, Roles: readers},
	// FHIR's search by POST: the same search, its parameters in the body.
	"POST /fhir/Patient/_search": {Audience: Staff, Roles: readers},
	// How to sign in (SMART App Launch discovery): holds no data.
	"GET /fhir/.well-known/smart-configuration": {Audience: Public},

	// The linkage rules in force: weights, thresholds and their version.
	"GET /v1/linkage/rules": {Audience: Staff, Roles: []string{RoleSteward}},

	"GET /v1/reviews":                  {Audience: Staff, Roles: []string{RoleSteward}},
	"GET /v1/reviews/{task}":           {Audience: Staff, Roles: []string{RoleSteward}},
	"POST /v1/reviews/{task}/decision": {Audience: Staff, Roles: []string{RoleSteward}},
	"POST /v1/children/{id}/merge":     {Audience: Staff, Roles: []string{RoleSteward}},
	"POST /v1/children/{id}/split":     {Audience: Staff, Roles: []string{RoleSteward}},
	"POST /v1/children/{id}/unmerge":   {Audience: Staff, Roles: []string{RoleSteward}},
	// Corrections are events; the timeline is for stewards, shield officers
	// and auditors (a subject access request), each through the policy.
	"POST /v1/children/{id}/corrections":           {Audience: Staff, Roles: []string{RoleSteward}},
	"DELETE /v1/children/{id}/corrections/{field}": {Audience: Staff, Roles: []string{RoleSteward}},
	"POST /v1/children/{id}/rejections":            {Audience: Staff, Roles: []string{RoleSteward}},
	"GET /v1/children/{id}/history":                {Audience: Staff, Roles: []string{RoleSteward, RoleShield, RoleAuditor}},
	"GET /v1/links/export":                         {Audience: Staff, Roles: []string{RoleSteward}},

	// The quarantine holds refused input, personal data included: stewards fix it.
	"GET /v1/quarantine":                 {Audience: Staff, Roles: []string{RoleSteward}},
	"GET /v1/quarantine/{seq}":           {Audience: Staff, Roles: []string{RoleSteward}},
	"POST /v1/quarantine/{seq}/resubmit": {Audience: Staff, Roles: []string{RoleSteward}},

	"GET /v1/practitioners":                   {Audience: Staff, Roles: []string{RoleAdmin}},
	"POST /v1/practitioners":                  {Audience: Staff, Roles: []string{RoleAdmin}},
	"GET /v1/practitioners/{id}":              {Audience: Staff, Roles: []string{RoleAdmin}},
	"PATCH /v1/practitioners/{id}":            {Audience: Staff, Roles: []string{RoleAdmin}},
	"POST /v1/practitioners/{id}/credentials": {Audience: Staff, Roles: []string{RoleAdmin}},
	"GET /v1/agency-keys":                     {Audience: Staff, Roles: []string{RoleAdmin}},
	"POST /v1/agency-keys":                    {Audience: Staff, Roles: []string{RoleAdmin}},
	"DELETE /v1/agency-keys/{id}":             {Audience: Staff, Roles: []string{RoleAdmin}},

	// A record's end (domain/retention): stewards record exceptions;
	// auditors read archived records for a stated reason.
	"POST /v1/children/{id}/retention": {Audience: Staff, Roles: []string{RoleSteward}},
	"GET /v1/archive/children/{id}":    {Audience: Staff, Roles: []string{RoleAuditor}},
	"GET /v1/audit/children/{id}":      {Audience: Staff, Roles: []string{RoleAuditor}},
	"GET /v1/audit/practitioners/{id}": {Audience: Staff, Roles: []string{RoleAuditor}},
	"GET /v1/audit/signals":            {Audience: Staff, Roles: []string{RoleAuditor}},
	"GET /v1/audit/views/{seq}/replay": {Audience: Staff, Roles: []string{RoleAuditor}},

	// Parked messages name streams, sequences and reasons, never content.
	"GET /v1/parked": {Audience: Staff, Roles: []string{RoleSteward, RoleAdmin}},
	// Data quality: counts per agency and system, never a child's data.
	"GET /v1/quality":               {Audience: Staff, Roles: []string{RoleSteward, RoleAdmin}},
	"GET /v1/quality/charts/{name}": {Audience: Staff, Roles: []string{RoleSteward, RoleAdmin}},
	// Metrics are for operators, who scrape as an administrator: the
	// figures say how the hub runs, which is no one else's business.
	"GET /metrics": {Audience: Staff, Roles: []string{RoleAdmin}},
	// How far each consumer is behind its stream: figures about how the
	// hub runs, like the metrics, so for the same administrators.
	"GET /v1/status": {Audience: Staff, Roles: []string{RoleAdmin}},

	// Notices the notifier could not deliver: where and why, never to whom.
	"GET /v1/notifications/parked":             {Audience: Staff, Roles: []string{RoleAdmin}},
	"POST /v1/notifications/parked/{id}/retry": {Audience: Staff, Roles: []string{RoleAdmin}},
}

// Refusals, each mapped by the adapters to one HTTP status.
var (
	ErrUnknownRoute    = errors.New("route has no access rule")      // 403: refused to all
	ErrUnauthenticated = errors.New("sign-in required")              // 401
	ErrForbidden       = errors.New("role does not permit this")     // 403
	ErrWrongAgency     = errors.New("key belongs to another agency") // 403
)

// Caller is who is asking: a signed-in viewer, an agency system, or neither.
type Caller struct {
	Viewer *Viewer
	System *AgencySystem
}

// Authorize decides whether caller may call the route with pattern.
func Authorize(pattern string, c Caller) (Rule, error) {
	rule, ok := Routes[pattern]
	if !ok {
		return Rule{}, ErrUnknownRoute
	}
	switch rule.Audience {
	case Public:
		return rule, nil
	case Agency:
		if c.System == nil {
			return rule, ErrUnauthenticated
		}
		return rule, nil
	default:
		if c.Viewer == nil {
			return rule, ErrUnauthenticated
		}
		if len(rule.Roles) == 0 && len(c.Viewer.Roles) > 0 {
			return rule, nil
		}
		for _, r := range rule.Roles {
			if slices.Contains(c.Viewer.Roles, r) {
				return rule, nil
			}
		}
		return rule, ErrForbidden
	}
}

// AgencySystem is an authenticated agency feed: the agency and system its
// API key was issued to. Intake takes both from the key, never the request.
type AgencySystem struct {
	KeyID  string `json:"key_id"`
	Agency string `json:"agency"`
	System string `json:"system"`
}

// MayFeed says whether the system may submit records for agency.
func (s AgencySystem) MayFeed(agency string) error {
	if s.Agency != agency {
		return ErrWrongAgency
	}
	return nil
}

type systemKey struct{}

// WithAgencySystem returns ctx carrying the authenticated agency system.
// Only the authentication middleware calls it.
func WithAgencySystem(ctx context.Context, s AgencySystem) context.Context {
	return context.WithValue(ctx, systemKey{}, s)
}

// AgencySystemFrom returns the agency system in ctx, if any.
func AgencySystemFrom(ctx context.Context) (AgencySystem, bool) {
	s, ok := ctx.Value(systemKey{}).(AgencySystem)
	return s, ok
}
