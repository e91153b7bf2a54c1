// Package authn is meso's authentication, as Mesos 1.11 does it
// (docs/authentication.md):
//
//   - credentials files (--credentials, --http_credentials, --credential):
//     Mesos's JSON format {"credentials":[{"principal":..,"secret":..}]} or,
//     for one credential, {"principal":..,"secret":..};
//   - HTTP authenticators per realm: libprocess's "basic" authenticator over
//     those credentials and its "jwt" (HS256) authenticator for executor
//     tokens, combined as Mesos's CombinedAuthenticator does;
//   - [Realms.Wrap]: the middleware that answers 401 with
//     WWW-Authenticate: Basic realm="<realm>" and libprocess's body, or puts
//     the principal in the request's context (httpapi.WithPrincipal) and,
//     for a token, its claims ([Claims]);
//   - executor tokens ([SignJWT], [ExecutorClaims]) as Mesos's
//     JWTSecretGenerator makes them: claims fid, eid and cid.
//
// The realm names are Mesos's (the Realm* constants). A realm without an
// authenticator is open, as in libprocess.
package authn
