package httpapi

import "context"

// principalKey is the context key of a request's authenticated principal.
type principalKey struct{}

// WithPrincipal returns ctx carrying the principal an authenticator
// established for the request (Mesos's Principal; only its value is
// kept). Authentication middleware sets it; handlers and authorization read
// it with [Principal].
func WithPrincipal(ctx context.Context, principal string) context.Context {
	return context.WithValue(ctx, principalKey{}, principal)
}

// Principal returns the request's authenticated principal, and false for
// a request that was not authenticated (authentication off, or an endpoint
// that does not require it).
func Principal(ctx context.Context) (string, bool) {
	p, ok := ctx.Value(principalKey{}).(string)
	return p, ok
}
