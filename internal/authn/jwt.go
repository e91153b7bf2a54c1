package authn

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidToken wraps every reason a JWT is refused; the message after it
// is what libprocess's JWT::parse says.
var ErrInvalidToken = errors.New("authn: invalid token")

var b64 = base64.RawURLEncoding

// SignJWT returns an HS256 JWT whose payload is claims (string values), as
// Mesos's JWTSecretGenerator makes executor tokens:
// header {"alg":"HS256","typ":"JWT"}, no expiry.
func SignJWT(claims map[string]string, key []byte) string {
	header := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(claims[k])
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	signingInput := header + "." + b64.EncodeToString(buf.Bytes())
	return signingInput + "." + b64.EncodeToString(hs256(signingInput, key))
}

func hs256(input string, key []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return mac.Sum(nil)
}

// VerifyJWT checks an HS256 token against key and returns its claims, each
// value as a string (a non-string value as its JSON text, as libprocess's
// JWT authenticator stringifies it). Only "HS256" is accepted: "none" and
// RS256 tokens, a bad signature, a malformed token or an expired "exp" are
// ErrInvalidToken with libprocess's reason.
func VerifyJWT(token string, key []byte, now time.Time) (map[string]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: Expected 3 components in token, got %d", ErrInvalidToken, len(parts))
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: Failed to decode token header: %v", ErrInvalidToken, err)
	}
	var header map[string]any
	if err := json.Unmarshal(hb, &header); err != nil || header == nil {
		return nil, fmt.Errorf("%w: Failed to parse token header", ErrInvalidToken)
	}
	if typ, ok := header["typ"]; ok {
		if _, isStr := typ.(string); !isStr {
			return nil, fmt.Errorf("%w: Token 'typ' is not a string", ErrInvalidToken)
		}
	}
	alg, ok := header["alg"]
	if !ok {
		return nil, fmt.Errorf("%w: Failed to locate 'alg' in token JSON header", ErrInvalidToken)
	}
	algStr, ok := alg.(string)
	if !ok {
		return nil, fmt.Errorf("%w: Token 'alg' field is not a string", ErrInvalidToken)
	}
	if _, ok := header["crit"]; ok {
		return nil, fmt.Errorf("%w: Token 'crit' field is unsupported", ErrInvalidToken)
	}
	if algStr != "HS256" {
		return nil, fmt.Errorf("%w: Token 'alg' value \"%s\" does not match, expected \"HS256\"", ErrInvalidToken, algStr)
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: Failed to decode token payload: %v", ErrInvalidToken, err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: Failed to decode signature: %v", ErrInvalidToken, err)
	}
	if !hmac.Equal(sig, hs256(parts[0]+"."+parts[1], key)) {
		return nil, fmt.Errorf("%w: Token signature does not match", ErrInvalidToken)
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	var payload map[string]any
	if err := dec.Decode(&payload); err != nil || payload == nil {
		return nil, fmt.Errorf("%w: Failed to parse token payload", ErrInvalidToken)
	}
	if exp, ok := payload["exp"]; ok {
		n, isNum := exp.(json.Number)
		if !isNum {
			return nil, fmt.Errorf("%w: JSON payload 'exp' field is not a number", ErrInvalidToken)
		}
		v, err := strconv.ParseFloat(n.String(), 64)
		if err != nil {
			return nil, fmt.Errorf("%w: JSON payload 'exp' field is not a number", ErrInvalidToken)
		}
		if int64(v) < now.Unix() {
			return nil, fmt.Errorf("%w: Token has expired: exp(%d) < now(%d)", ErrInvalidToken, int64(v), now.Unix())
		}
	}
	claims := make(map[string]string, len(payload))
	for k, v := range payload {
		if s, ok := v.(string); ok {
			claims[k] = s
			continue
		}
		b, _ := json.Marshal(v)
		claims[k] = string(b)
	}
	return claims, nil
}

// ExecutorClaims are the claims of an executor's token (Mesos's
// Slave::launchExecutor): the framework, executor and container IDs.
func ExecutorClaims(frameworkID, executorID, containerID string) map[string]string {
	return map[string]string{"fid": frameworkID, "eid": executorID, "cid": containerID}
}

// ExecutorTokenEnv is the environment variable that carries an executor's
// token (Mesos's MESOS_EXECUTOR_AUTHENTICATION_TOKEN).
const ExecutorTokenEnv = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"
