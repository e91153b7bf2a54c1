package authz

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/meso-project/meso/internal/httpapi"
)

// HTTPSubject is the subject of an HTTP request: its authenticated
// principal (httpapi.Principal), none without authentication.
func HTTPSubject(r *http.Request) *string {
	return Subject(httpapi.Principal(r.Context()))
}

// Allowed asks az; a nil az allows everything (Mesos without --acls), and
// an authorizer error denies (Mesos fails the request), logged on log.
func Allowed(ctx context.Context, az Authorizer, log *slog.Logger, req Request) bool {
	if az == nil {
		return true
	}
	ok, err := az.Authorized(ctx, req)
	if err != nil {
		log.Warn("authorization failed", "action", req.Action.String(), "err", err)
		return false
	}
	return ok
}

// Forbidden is libprocess's Forbidden(): 403 with an empty body.
func Forbidden(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusForbidden)
}

// Guard wraps h with a check of action for the request's subject, with
// object when it is not empty (GET_ENDPOINT_WITH_PATH takes the endpoint
// as its object): 403 when az denies.
func Guard(az Authorizer, log *slog.Logger, action Action, object string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := Request{Action: action, Subject: HTTPSubject(r)}
		if object != "" {
			req.Object = Ptr(object)
		}
		if !Allowed(r.Context(), az, log, req) {
			Forbidden(w)
			return
		}
		h(w, r)
	}
}
