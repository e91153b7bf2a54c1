package authn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Credential is one principal and its secret (Mesos's Credential message).
type Credential struct {
	Principal string `json:"principal"`
	Secret    string `json:"secret,omitempty"`
}

// ErrNoCredentials is returned for an empty credentials file, which Mesos
// refuses ("Credentials file must contain at least one credential").
var ErrNoCredentials = errors.New("authn: empty credentials file")

// ParseCredentials parses Mesos's credentials JSON:
// {"credentials":[{"principal":"p","secret":"s"}, ...]}. As Mesos's
// protobuf-from-JSON parse does, an unknown field is ignored, a missing
// principal (a required field) is an error, and so is a value of the wrong
// type. Empty input is ErrNoCredentials.
func ParseCredentials(data []byte) ([]Credential, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrNoCredentials
	}
	var doc struct {
		Credentials []json.RawMessage `json:"credentials"`
	}
	if err := decodeObject(data, &doc); err != nil {
		return nil, err
	}
	out := make([]Credential, 0, len(doc.Credentials))
	for i, raw := range doc.Credentials {
		c, err := parseCredential(raw)
		if err != nil {
			return nil, fmt.Errorf("Failed to parse credentials: credentials[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// ParseCredential parses one credential, {"principal":"p","secret":"s"}:
// the agent's --credential and a framework's credential file.
func ParseCredential(data []byte) (Credential, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Credential{}, ErrNoCredentials
	}
	var raw json.RawMessage
	if err := decodeObject(data, &raw); err != nil {
		return Credential{}, err
	}
	c, err := parseCredential(raw)
	if err != nil {
		return Credential{}, fmt.Errorf("Failed to parse credential: %w", err)
	}
	return c, nil
}

// decodeObject decodes a JSON object into v with Mesos's message for
// anything that is not one.
func decodeObject(data []byte, v any) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("Invalid json format: expecting a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("Invalid json format: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("Invalid json format: trailing data after the object")
	}
	return nil
}

func parseCredential(raw json.RawMessage) (Credential, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return Credential{}, fmt.Errorf("expecting a JSON object")
	}
	var c Credential
	p, ok := fields["principal"]
	if !ok {
		return Credential{}, fmt.Errorf("Missing required fields: principal")
	}
	if err := json.Unmarshal(p, &c.Principal); err != nil {
		return Credential{}, fmt.Errorf("'principal': expecting a string")
	}
	if s, ok := fields["secret"]; ok {
		if err := json.Unmarshal(s, &c.Secret); err != nil {
			return Credential{}, fmt.Errorf("'secret': expecting a string")
		}
	}
	return c, nil
}

// FilePath is a Mesos Path flag's value: the path itself, with a leading
// "file://" dropped (stout does not read a Path flag's file).
func FilePath(v string) string {
	return strings.TrimPrefix(v, "file://")
}

// ReadCredentials reads a credentials file (--credentials,
// --http_credentials) given as a path or file:// URL, with Mesos's
// messages. flag names the flag for them, e.g. "--credentials".
func ReadCredentials(path, flag string) ([]Credential, error) {
	path = FilePath(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("Failed to read credentials file '%s': %w (see %s flag)", path, err, flag)
	}
	creds, err := ParseCredentials(data)
	if errors.Is(err, ErrNoCredentials) || (err == nil && len(creds) == 0) {
		return nil, fmt.Errorf("Credentials file must contain at least one credential (see %s flag)", flag)
	}
	if err != nil {
		return nil, fmt.Errorf("%w (see %s flag)", err, flag)
	}
	return creds, nil
}

// ReadCredential reads a single-credential file (the agent's --credential,
// a framework's or `meso execute`'s credential file).
func ReadCredential(path, flag string) (Credential, error) {
	path = FilePath(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return Credential{}, fmt.Errorf("Failed to read credential file '%s': %w (see %s flag)", path, err, flag)
	}
	c, err := ParseCredential(data)
	if errors.Is(err, ErrNoCredentials) {
		return Credential{}, fmt.Errorf("Empty credential file '%s' (see %s flag)", path, flag)
	}
	if err != nil {
		return Credential{}, fmt.Errorf("%w (see %s flag)", err, flag)
	}
	return c, nil
}

// ReadSecretKey reads the --jwt_secret_key file: its bytes, as Mesos's
// os::read gives them (no trimming).
func ReadSecretKey(path string) ([]byte, error) {
	data, err := os.ReadFile(FilePath(path))
	if err != nil {
		return nil, fmt.Errorf("Failed to read the file specified by --jwt_secret_key: %w", err)
	}
	return data, nil
}
