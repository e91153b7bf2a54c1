package authz

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

func mustParse(t *testing.T, s string) *Local {
	t.Helper()
	acls, err := ParseACLs([]byte(s))
	if err != nil {
		t.Fatalf("ParseACLs(%s): %v", s, err)
	}
	return NewLocal(acls)
}

func TestParseACLs(t *testing.T) {
	acls, err := ParseACLs([]byte(`{
	  "permissive": false,
	  "run_tasks": [
	    {"principals": {"values": ["a", "b"]}, "users": {"values": "alice"}},
	    {"principals": {"type": "ANY"}, "users": {"type": "NONE"}}
	  ],
	  "register_frameworks": {"principals": {"type": "ANY"}, "roles": {"values": ["eng/%"]}}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &ACLs{Permissive: false, Lists: map[string][]Rule{
		"run_tasks": {
			{Principals: Entity{Values: []string{"a", "b"}}, Objects: Entity{Values: []string{"alice"}}},
			{Principals: Entity{Type: Any}, Objects: Entity{Type: None}},
		},
		"register_frameworks": {{Principals: Entity{Type: Any}, Objects: Entity{Values: []string{"eng/%"}}}},
	}}
	if d := cmp.Diff(want, acls); d != "" {
		t.Errorf("ACLs (-want +got):\n%s", d)
	}
	if acls, err := ParseACLs([]byte(`{}`)); err != nil || !acls.Permissive {
		t.Errorf("empty ACLs: %+v, %v; want permissive", acls, err)
	}
}

func TestParseACLsErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`[]`, "Expecting a JSON object"},
		{`{"run_task": []}`, "unknown field 'run_task'"},
		{`{"run_tasks": [{"principals": {"type": "ANY"}}]}`, "Missing required fields: users"},
		{`{"run_tasks": [{"principals": {"type": "ALL"}, "users": {}}]}`, "Failed to find enum for 'ALL'"},
		{`{"run_tasks": [{"principals": {"type": "ANY"}, "roles": {}}]}`, "unknown field 'roles'"},
		{`{"permissive": "no"}`, "Not expecting a JSON string for field 'permissive'"},
		{`{"view_flags": [{"principals": {"type": "ANY"}, "flags": {"values": ["x"]}}]}`, "ACL.ViewFlags type must be either NONE or ANY"},
		{`{"get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"values": ["/state"]}}]}`, "Path: '/state' is not an authorizable path"},
		{`{"permissive": true, "permissive": false}`, "duplicate field"},
		{`{"run_tasks": [{"principals": {"values": [1]}, "users": {}}]}`, "Not expecting a JSON number"},
		{`{} x`, "trailing data"},
	} {
		_, err := ParseACLs([]byte(tc.in))
		if err == nil || !errors.Is(err, ErrInvalidACLs) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseACLs(%s) = %v; want an ErrInvalidACLs containing %q", tc.in, err, tc.want)
		}
	}
}

func TestParseFlagFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "acls.json")
	if err := os.WriteFile(p, []byte(`{"permissive": false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	acls, err := ParseFlag(p)
	if err != nil || acls.Permissive {
		t.Fatalf("ParseFlag(%s) = %+v, %v", p, acls, err)
	}
	if _, err := ParseFlag(p + ".missing"); err == nil {
		t.Error("missing file accepted")
	}
}

// TestLocalSemantics checks the match and allow matrices, first match
// wins, and permissive, with cases from Mesos's authorization tests.
func TestLocalSemantics(t *testing.T) {
	ctx := context.Background()
	a := Ptr
	for _, tc := range []struct {
		name, acls string
		req        Request
		want       bool
	}{
		{"no ACLs permissive", `{}`, Request{Action: RunTask, Subject: a("p"), Object: a("root")}, true},
		{"no ACLs non-permissive", `{"permissive": false}`, Request{Action: RunTask, Subject: a("p"), Object: a("root")}, false},
		{"some matches some", `{"permissive": false, "run_tasks": [{"principals": {"values": ["p"]}, "users": {"values": ["u"]}}]}`,
			Request{Action: RunTask, Subject: a("p"), Object: a("u")}, true},
		{"other user falls through", `{"permissive": false, "run_tasks": [{"principals": {"values": ["p"]}, "users": {"values": ["u"]}}]}`,
			Request{Action: RunTask, Subject: a("p"), Object: a("root")}, false},
		{"other user falls through permissive", `{"run_tasks": [{"principals": {"values": ["p"]}, "users": {"values": ["u"]}}]}`,
			Request{Action: RunTask, Subject: a("p"), Object: a("root")}, true},
		{"NONE objects deny", `{"run_tasks": [{"principals": {"values": ["p"]}, "users": {"type": "NONE"}}]}`,
			Request{Action: RunTask, Subject: a("p"), Object: a("u")}, false},
		{"first match wins", `{"permissive": false, "run_tasks": [
			{"principals": {"values": ["p"]}, "users": {"type": "NONE"}},
			{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}]}`,
			Request{Action: RunTask, Subject: a("p"), Object: a("u")}, false},
		{"first match wins (allow first)", `{"run_tasks": [
			{"principals": {"type": "ANY"}, "users": {"values": ["u"]}},
			{"principals": {"values": ["p"]}, "users": {"type": "NONE"}}]}`,
			Request{Action: RunTask, Subject: a("p"), Object: a("u")}, true},
		{"no subject is ANY: not allowed by SOME", `{"permissive": false, "run_tasks": [{"principals": {"values": ["p"]}, "users": {"type": "ANY"}}]}`,
			Request{Action: RunTask, Object: a("u")}, false},
		{"no subject is ANY: allowed by ANY", `{"permissive": false, "run_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}]}`,
			Request{Action: RunTask, Object: a("u")}, true},
		{"no subject matched by NONE principals: denied", `{"run_tasks": [{"principals": {"type": "NONE"}, "users": {"type": "ANY"}}]}`,
			Request{Action: RunTask, Object: a("u")}, false},
		{"ANY object not allowed by SOME", `{"permissive": false, "view_frameworks": [{"principals": {"type": "ANY"}, "users": {"values": ["u"]}}]}`,
			Request{Action: ViewFramework, Subject: a("p")}, false},
		{"teardown by framework principal", `{"permissive": false, "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}]}`,
			Request{Action: TeardownFramework, Subject: a("ops"), Object: a("fw")}, true},
		{"teardown denied", `{"permissive": false, "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}]}`,
			Request{Action: TeardownFramework, Subject: a("mallory"), Object: a("fw")}, false},
		{"view_flags ignores object", `{"permissive": false, "view_flags": [{"principals": {"values": ["p"]}, "flags": {"type": "ANY"}}]}`,
			Request{Action: ViewFlags, Subject: a("p"), Object: a("whatever")}, true},
		{"recursive role", `{"permissive": false, "reserve_resources": [{"principals": {"values": ["p"]}, "roles": {"values": ["eng/%"]}}]}`,
			Request{Action: ReserveResources, Subject: a("p"), Object: a("eng/dev")}, true},
		{"recursive role excludes itself", `{"permissive": false, "reserve_resources": [{"principals": {"values": ["p"]}, "roles": {"values": ["eng/%"]}}]}`,
			Request{Action: ReserveResources, Subject: a("p"), Object: a("eng")}, false},
		{"recursive role split from plain", `{"permissive": false, "update_weights": [{"principals": {"values": ["p"]}, "roles": {"values": ["eng/%", "ops"]}}]}`,
			Request{Action: UpdateWeight, Subject: a("p"), Object: a("ops")}, true},
		{"register all roles", `{"permissive": false, "register_frameworks": [{"principals": {"values": ["p"]}, "roles": {"values": ["a", "b"]}}]}`,
			Request{Action: RegisterFramework, Subject: a("p"), Roles: []string{"a", "b"}}, true},
		{"register one role denied", `{"permissive": false, "register_frameworks": [{"principals": {"values": ["p"]}, "roles": {"values": ["a"]}}]}`,
			Request{Action: RegisterFramework, Subject: a("p"), Roles: []string{"a", "b"}}, false},
		{"register no roles: permissive", `{"permissive": false, "register_frameworks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}]}`,
			Request{Action: RegisterFramework, Subject: a("p")}, false},
		{"nested launch needs both", `{"permissive": false,
			"launch_nested_containers_under_parent_with_user": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
			"launch_nested_containers_as_user": [{"principals": {"type": "ANY"}, "users": {"values": ["u"]}}]}`,
			Request{Action: LaunchNestedContainer, Subject: a("p"), Object: a("fwuser"), ChildCommand: true, ChildUser: a("root")}, false},
		{"nested launch as the allowed user", `{"permissive": false,
			"launch_nested_containers_under_parent_with_user": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
			"launch_nested_containers_as_user": [{"principals": {"type": "ANY"}, "users": {"values": ["u"]}}]}`,
			Request{Action: LaunchNestedContainer, Subject: a("p"), Object: a("fwuser"), ChildCommand: true, ChildUser: a("u")}, true},
		{"nested launch of a command without a user: ANY", `{"permissive": false,
			"launch_nested_containers_under_parent_with_user": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
			"launch_nested_containers_as_user": [{"principals": {"type": "ANY"}, "users": {"values": ["u"]}}]}`,
			Request{Action: LaunchNestedContainer, Subject: a("p"), Object: a("fwuser"), ChildCommand: true}, false},
		{"unknown action", `{}`, Request{Action: Action(999), Subject: a("p")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustParse(t, tc.acls).Authorized(ctx, tc.req)
			if err != nil || got != tc.want {
				t.Errorf("Authorized(%+v) = %v, %v; want %v", tc.req, got, err, tc.want)
			}
		})
	}
}

func TestObjects(t *testing.T) {
	fw := &mesospb.FrameworkInfo{User: proto.String("fwuser"), Role: proto.String("eng"), Id: &mesospb.FrameworkID{Value: proto.String("F1")}}
	task := &mesospb.TaskInfo{TaskId: &mesospb.TaskID{Value: proto.String("t1")}, Command: &mesospb.CommandInfo{User: proto.String("root")}}
	if got := RunTaskUser(task, fw); got != "root" {
		t.Errorf("RunTaskUser = %q", got)
	}
	if got := RunTaskUser(&mesospb.TaskInfo{}, fw); got != "fwuser" {
		t.Errorf("RunTaskUser without user = %q", got)
	}
	if got, want := DeniedLaunch(task, fw), "Not authorized to launch task t1 of framework F1 under user 'root'"; got != want {
		t.Errorf("DeniedLaunch = %q; want %q", got, want)
	}
	if got, want := DeniedRegistration(fw), "Not authorized to register framework F1 with roles { eng }"; got != want {
		t.Errorf("DeniedRegistration = %q; want %q", got, want)
	}
}

func TestAllowedNil(t *testing.T) {
	if !Allowed(context.Background(), nil, slog.New(slog.DiscardHandler), Request{Action: RunTask}) {
		t.Error("no authorizer must allow, as Mesos without --acls")
	}
}

// FuzzParseACLs: the parser never panics, and whatever it accepts gives an
// authorizer that answers every action without panicking.
func FuzzParseACLs(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"permissive": false}`,
		`{"run_tasks": [{"principals": {"values": ["a"]}, "users": {"type": "ANY"}}]}`,
		`{"register_frameworks": {"principals": {"type": "NONE"}, "roles": {"values": ["a/%", "b"]}}}`,
		`{"get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"values": ["/metrics/snapshot"]}}]}`,
		`{"view_roles": [{"principals": null, "roles": {"values": "x"}}]}`,
		`[`, `{"permissive": 1e999}`,
	} {
		f.Add([]byte(s), "a", "b/c")
	}
	f.Fuzz(func(t *testing.T, data []byte, subject, object string) {
		acls, err := ParseACLs(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidACLs) {
				t.Fatalf("error %v is not ErrInvalidACLs", err)
			}
			return
		}
		l := NewLocal(acls)
		for act := range actionInfo {
			for _, req := range []Request{
				{Action: act},
				{Action: act, Subject: &subject, Object: &object, Roles: []string{object, subject}, ChildCommand: true, ChildUser: &object},
			} {
				if _, err := l.Authorized(context.Background(), req); err != nil {
					t.Fatalf("Authorized(%+v): %v", req, err)
				}
			}
		}
	})
}

// TestObjectUsersWithoutCommands: an executor without a command (the
// default executor's ExecutorInfo) has no user of its own.
func TestObjectUsersWithoutCommands(t *testing.T) {
	fw := &mesospb.FrameworkInfo{User: Ptr("fwuser")}
	if got := ExecutorUser(&mesospb.ExecutorInfo{}, fw); got != "fwuser" {
		t.Errorf("ExecutorUser of an executor without a command: %q", got)
	}
	if got := RunTaskUser(&mesospb.TaskInfo{Executor: &mesospb.ExecutorInfo{}}, fw); got != "fwuser" {
		t.Errorf("RunTaskUser of a task whose executor has no command: %q", got)
	}
}
