package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrInvalidACLs prefixes every error of ParseACLs and ParseFlag.
var ErrInvalidACLs = errors.New("authz: invalid ACLs")

// EntityType is ACL.Entity.Type of Mesos's acls.proto.
type EntityType int

// The entity types, with acls.proto's numbers (SOME is the default).
const (
	Some EntityType = 0
	Any  EntityType = 1
	None EntityType = 2
)

// String is the enum name as it is written in the JSON.
func (t EntityType) String() string {
	switch t {
	case Some:
		return "SOME"
	case Any:
		return "ANY"
	case None:
		return "NONE"
	}
	return fmt.Sprintf("EntityType(%d)", int(t))
}

// Entity is ACL.Entity: a set of subjects or objects. Values only count
// for SOME.
type Entity struct {
	Type   EntityType
	Values []string
}

// Rule is one ACL of a list: its subjects (always "principals") and its
// objects (users, roles, framework_principals, paths, ...).
type Rule struct {
	Principals Entity
	Objects    Entity
}

// ACLs is Mesos's ACLs message: permissive (default true) and one ordered
// list of rules per ACL kind, keyed by the JSON field name
// ("register_frameworks", "run_tasks", ...).
type ACLs struct {
	Permissive bool
	Lists      map[string][]Rule
}

// aclKinds maps each ACLs list of acls.proto to the JSON name of its
// object entity. All of Mesos 1.11's lists are accepted, also those of
// features meso does not have (resource providers, standalone containers,
// CSI disks): their actions never happen here, so they authorize nothing,
// as in a Mesos cluster without those features.
var aclKinds = map[string]string{
	"register_frameworks":              "roles",
	"run_tasks":                        "users",
	"reserve_resources":                "roles",
	"unreserve_resources":              "reserver_principals",
	"create_volumes":                   "roles",
	"destroy_volumes":                  "creator_principals",
	"teardown_frameworks":              "framework_principals",
	"update_weights":                   "roles",
	"get_endpoints":                    "paths",
	"get_quotas":                       "roles",
	"update_quotas":                    "roles",
	"view_frameworks":                  "users",
	"view_tasks":                       "users",
	"view_executors":                   "users",
	"access_sandboxes":                 "users",
	"access_mesos_logs":                "logs",
	"view_roles":                       "roles",
	"view_flags":                       "flags",
	"launch_nested_containers_as_user": "users",
	"launch_nested_containers_under_parent_with_user":         "users",
	"kill_nested_containers":                                  "users",
	"wait_nested_containers":                                  "users",
	"launch_nested_container_sessions_as_user":                "users",
	"launch_nested_container_sessions_under_parent_with_user": "users",
	"attach_containers_input":                                 "users",
	"attach_containers_output":                                "users",
	"view_containers":                                         "users",
	"set_log_level":                                           "level",
	"remove_nested_containers":                                "users",
	"register_agents":                                         "agents",
	"update_maintenance_schedules":                            "machines",
	"get_maintenance_schedules":                               "machines",
	"start_maintenances":                                      "machines",
	"stop_maintenances":                                       "machines",
	"get_maintenance_statuses":                                "machines",
	"drain_agents":                                            "agents",
	"deactivate_agents":                                       "agents",
	"reactivate_agents":                                       "agents",
	"mark_agents_gone":                                        "agents",
	"launch_standalone_containers":                            "users",
	"kill_standalone_containers":                              "users",
	"wait_standalone_containers":                              "users",
	"remove_standalone_containers":                            "users",
	"view_standalone_containers":                              "users",
	"modify_resource_provider_configs":                        "resource_providers",
	"mark_resource_providers_gone":                            "resource_providers",
	"view_resource_providers":                                 "resource_providers",
	"prune_images":                                            "images",
	"resize_volumes":                                          "roles",
	"create_block_disks":                                      "roles",
	"destroy_block_disks":                                     "roles",
	"create_mount_disks":                                      "roles",
	"destroy_mount_disks":                                     "roles",
	"destroy_raw_disks":                                       "roles",
}

// someOnlyNoneOrAny are the lists whose objects LocalAuthorizer::validate
// requires to be NONE or ANY, with the message name it reports.
var someOnlyNoneOrAny = map[string]string{
	"access_mesos_logs":                "AccessMesosLog",
	"view_flags":                       "ViewFlags",
	"set_log_level":                    "SetLogLevel",
	"register_agents":                  "RegisterAgent",
	"update_maintenance_schedules":     "UpdateMaintenanceSchedule",
	"get_maintenance_schedules":        "GetMaintenanceSchedule",
	"start_maintenances":               "StartMaintenance",
	"stop_maintenances":                "StopMaintenance",
	"get_maintenance_statuses":         "GetMaintenanceStatus",
	"drain_agents":                     "DrainAgent",
	"deactivate_agents":                "DeactivateAgent",
	"reactivate_agents":                "ReactivateAgent",
	"launch_standalone_containers":     "LaunchStandaloneContainer",
	"kill_standalone_containers":       "KillStandaloneContainer",
	"wait_standalone_containers":       "WaitStandaloneContainer",
	"remove_standalone_containers":     "RemoveStandaloneContainer",
	"view_standalone_containers":       "ViewStandaloneContainer",
	"mark_resource_providers_gone":     "MarkResourceProvidersGone",
	"view_resource_providers":          "ViewResourceProvider",
	"modify_resource_provider_configs": "ModifyResourceProviderConfig",
	"prune_images":                     "PruneImages",
}

// AuthorizableEndpoints are the paths a get_endpoints ACL may name
// (Mesos's authorization::AUTHORIZABLE_ENDPOINTS, and meso's
// /debug/pprof, served with --enable_pprof).
var AuthorizableEndpoints = map[string]bool{
	"/containers":          true,
	"/containerizer/debug": true,
	"/debug/pprof":         true,
	"/files/debug":         true,
	"/logging/toggle":      true,
	"/metrics/snapshot":    true,
	"/monitor/statistics":  true,
}

// ParseFlag parses the value of --acls as Mesos does: JSON, or — for a
// value starting with "/" — the path of a file holding it (file:// values
// are expanded by the flag parser before this).
func ParseFlag(value string) (*ACLs, error) {
	if strings.HasPrefix(value, "/") {
		b, err := os.ReadFile(value)
		if err != nil {
			return nil, fmt.Errorf("%w: Error reading file '%s': %w", ErrInvalidACLs, value, err)
		}
		value = string(b)
	}
	return ParseACLs([]byte(value))
}

// ParseACLs parses Mesos's ACLs JSON (acls.proto in stout's JSON form) and
// validates it as LocalAuthorizer::validate does. As stout's protobuf
// parser, a repeated field also takes a single value and required
// principals and objects must be present. Unlike Mesos, which skips
// unknown keys (its own TODO calls a misspelt action a security issue), an
// unknown key is an error: a typo must not silently drop a rule.
func ParseACLs(data []byte) (*ACLs, error) {
	top, err := object(data, "ACLs")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidACLs, err)
	}
	acls := &ACLs{Permissive: true, Lists: map[string][]Rule{}}
	for key, raw := range top {
		if key == "permissive" {
			if isNull(raw) {
				continue
			}
			if err := json.Unmarshal(raw, &acls.Permissive); err != nil {
				return nil, fmt.Errorf("%w: Not expecting a JSON %s for field 'permissive'", ErrInvalidACLs, kind(raw))
			}
			continue
		}
		objKey, ok := aclKinds[key]
		if !ok {
			return nil, fmt.Errorf("%w: unknown field '%s'", ErrInvalidACLs, key)
		}
		items, err := repeated(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: field '%s': %w", ErrInvalidACLs, key, err)
		}
		for i, item := range items {
			r, err := parseRule(item, objKey)
			if err != nil {
				return nil, fmt.Errorf("%w: %s[%d]: %w", ErrInvalidACLs, key, i, err)
			}
			acls.Lists[key] = append(acls.Lists[key], r)
		}
	}
	if err := validate(acls); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidACLs, err)
	}
	return acls, nil
}

func validate(acls *ACLs) error {
	for key, name := range someOnlyNoneOrAny {
		for _, r := range acls.Lists[key] {
			if r.Objects.Type == Some {
				return fmt.Errorf("ACL.%s type must be either NONE or ANY", name)
			}
		}
	}
	for _, r := range acls.Lists["get_endpoints"] {
		if r.Objects.Type != Some {
			continue
		}
		for _, p := range r.Objects.Values {
			if !AuthorizableEndpoints[p] {
				return fmt.Errorf("Path: '%s' is not an authorizable path", p)
			}
		}
	}
	return nil
}

func parseRule(data json.RawMessage, objKey string) (Rule, error) {
	fields, err := object(data, "ACL")
	if err != nil {
		return Rule{}, err
	}
	var r Rule
	var havePrincipals, haveObjects bool
	for key, raw := range fields {
		var dst *Entity
		switch key {
		case "principals":
			dst, havePrincipals = &r.Principals, !isNull(raw)
		case objKey:
			dst, haveObjects = &r.Objects, !isNull(raw)
		default:
			return Rule{}, fmt.Errorf("unknown field '%s'", key)
		}
		if isNull(raw) {
			continue
		}
		if *dst, err = parseEntity(raw); err != nil {
			return Rule{}, fmt.Errorf("field '%s': %w", key, err)
		}
	}
	var missing []string
	if !havePrincipals {
		missing = append(missing, "principals")
	}
	if !haveObjects {
		missing = append(missing, objKey)
	}
	if len(missing) > 0 {
		return Rule{}, fmt.Errorf("Missing required fields: %s", strings.Join(missing, ", "))
	}
	return r, nil
}

func parseEntity(data json.RawMessage) (Entity, error) {
	fields, err := object(data, "Entity")
	if err != nil {
		return Entity{}, err
	}
	var e Entity
	for key, raw := range fields {
		if isNull(raw) {
			continue
		}
		switch key {
		case "type":
			var name string
			if err := json.Unmarshal(raw, &name); err != nil {
				return Entity{}, fmt.Errorf("Not expecting a JSON %s for field 'type'", kind(raw))
			}
			switch name {
			case "SOME":
				e.Type = Some
			case "ANY":
				e.Type = Any
			case "NONE":
				e.Type = None
			default:
				return Entity{}, fmt.Errorf("Failed to find enum for '%s'", name)
			}
		case "values":
			items, err := repeated(raw)
			if err != nil {
				return Entity{}, fmt.Errorf("field 'values': %w", err)
			}
			for _, it := range items {
				var s string
				if err := json.Unmarshal(it, &s); err != nil {
					return Entity{}, fmt.Errorf("Not expecting a JSON %s for field 'values'", kind(it))
				}
				e.Values = append(e.Values, s)
			}
		default:
			return Entity{}, fmt.Errorf("unknown field '%s'", key)
		}
	}
	return e, nil
}

// object decodes a JSON object, refusing duplicate keys (which stout's
// JSON parser would resolve by keeping one silently).
func object(data []byte, what string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("Failed to parse %s: %w", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("Expecting a JSON object for %s", what)
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("Failed to parse %s: %w", what, err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("Failed to parse %s: %w", what, err)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("duplicate field '%s' in %s", key, what)
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("Failed to parse %s: %w", what, err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return nil, fmt.Errorf("Failed to parse %s: trailing data", what)
	}
	return out, nil
}

// repeated is the elements of a JSON array, or the value itself as the only
// element (stout's parser appends a lone value to a repeated field).
func repeated(raw json.RawMessage) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return []json.RawMessage{raw}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	return items, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func kind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "value"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
