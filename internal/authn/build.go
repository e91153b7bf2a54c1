package authn

import (
	"encoding/json"
	"fmt"
	"strings"
)

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Build makes the authenticator of realm from --http_authenticators-style
// names ("basic", "jwt", or both comma-separated), with Mesos's startup
// errors for an unknown name, a missing credentials file or key.
func Build(realm, names string, creds []Credential, jwtKey []byte) (Authenticator, error) {
	var list []Authenticator
	parts := strings.Split(names, ",")
	if names == "" {
		return nil, fmt.Errorf("No HTTP authenticators specified for realm '%s'", realm)
	}
	for _, n := range parts {
		switch n {
		case BasicName:
			if creds == nil {
				return nil, fmt.Errorf("Failed to create HTTP authenticator module '%s': No credentials provided for the default '%s' HTTP authenticator for realm '%s'", n, n, realm)
			}
			list = append(list, NewBasic(realm, creds))
		case JWTName:
			if jwtKey == nil {
				return nil, fmt.Errorf("Failed to create HTTP authenticator module '%s': No JWT secret provided for the default '%s' HTTP authenticator for realm '%s'", n, n, realm)
			}
			list = append(list, NewJWT(realm, jwtKey))
		default:
			return nil, fmt.Errorf("HTTP authenticator '%s' not found. Check the spelling (compare to '%s') or verify that the authenticator was loaded successfully (see --modules)", n, BasicName)
		}
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return Combined(list), nil
}
