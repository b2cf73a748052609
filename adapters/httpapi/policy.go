package httpapi

import (
	"net/http"

	"contactpoint/domain/access"
	"contactpoint/domain/child"
)

// AccessPolicy applies the domain access policy to the viewer the request
// carries; a request without one is an ordinary practitioner.
type AccessPolicy struct{}

// View implements Policy.
func (AccessPolicy) View(r *http.Request, v child.View) (child.View, bool) {
	return access.Show(viewer(r), v)
}

func viewer(r *http.Request) access.Viewer { return access.ViewerOrOrdinary(r.Context()) }
