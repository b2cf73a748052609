package access

import (
	"errors"
	"testing"
)

func TestAuthorize(t *testing.T) {
	pr := &Viewer{ID: "p", Roles: []string{RolePractitioner}}
	aud := &Viewer{ID: "a", Roles: []string{RoleAuditor}}
	adm := &Viewer{ID: "d", Roles: []string{RoleAdmin}}
	none := &Viewer{ID: "n"}
	sys := &AgencySystem{Agency: "health", System: "pas"}
	tests := []struct {
		pattern string
		c       Caller
		want    error
	}{
		{"GET /healthz", Caller{}, nil},
		{"POST /v1/auth/login", Caller{}, nil},
		{"GET /v1/children", Caller{}, ErrUnauthenticated},
		{"GET /v1/children", Caller{System: sys}, ErrUnauthenticated},
		{"GET /v1/children", Caller{Viewer: pr}, nil},
		{"GET /v1/children/{id}", Caller{Viewer: aud}, ErrForbidden},
		{"GET /v1/children/{id}", Caller{Viewer: adm}, ErrForbidden},
		{"GET /v1/audit/children/{id}", Caller{Viewer: pr}, ErrForbidden},
		{"GET /v1/audit/children/{id}", Caller{Viewer: aud}, nil},
		{"POST /v1/practitioners", Caller{Viewer: pr}, ErrForbidden},
		{"POST /v1/practitioners", Caller{Viewer: adm}, nil},
		{"GET /v1/auth/me", Caller{Viewer: none}, ErrForbidden},
		{"GET /v1/auth/me", Caller{Viewer: aud}, nil},
		{"POST /v1/feeds/{agency}/records", Caller{}, ErrUnauthenticated},
		{"POST /v1/feeds/{agency}/records", Caller{Viewer: adm}, ErrUnauthenticated},
		{"POST /v1/feeds/{agency}/records", Caller{System: sys}, nil},
		{"GET /v1/secret", Caller{Viewer: adm}, ErrUnknownRoute},
	}
	for _, tt := range tests {
		if _, err := Authorize(tt.pattern, tt.c); !errors.Is(err, tt.want) {
			t.Errorf("%s %+v: %v, want %v", tt.pattern, tt.c, err, tt.want)
		}
	}
}

func TestMayFeed(t *testing.T) {
	s := AgencySystem{Agency: "health", System: "pas"}
	if s.MayFeed("health") != nil || !errors.Is(s.MayFeed("education"), ErrWrongAgency) {
		t.Fatal("agency key scope not enforced")
	}
}
