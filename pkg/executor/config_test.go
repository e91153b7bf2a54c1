package executor

import (
	"errors"
	"testing"
	"time"

	"github.com/meso-project/meso/pkg/codec"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestFromEnv(t *testing.T) {
	base := func() map[string]string {
		return map[string]string{
			"MESOS_FRAMEWORK_ID":   "fw",
			"MESOS_EXECUTOR_ID":    "ex",
			"MESOS_DIRECTORY":      "/var/sandbox",
			"MESOS_AGENT_ENDPOINT": "10.0.0.2:5051",
		}
	}
	t.Run("defaults", func(t *testing.T) {
		cfg, err := FromEnv(envOf(base()))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.FrameworkID != "fw" || cfg.ExecutorID != "ex" || cfg.Directory != "/var/sandbox" || cfg.Sandbox != "/var/sandbox" {
			t.Errorf("ids/dirs = %+v", cfg)
		}
		if cfg.url() != "http://10.0.0.2:5051/api/v1/executor" {
			t.Errorf("url = %s", cfg.url())
		}
		if cfg.Checkpoint || cfg.RecoveryTimeout != 15*time.Minute || cfg.SubscriptionBackoffMax != 2*time.Second ||
			cfg.ShutdownGracePeriod != 5*time.Second || cfg.ContentType != codec.Protobuf || cfg.HTTPClient == nil || cfg.Logger == nil {
			t.Errorf("defaults not applied: %+v", cfg)
		}
	})
	t.Run("slave pid and durations", func(t *testing.T) {
		env := base()
		delete(env, "MESOS_AGENT_ENDPOINT")
		env["MESOS_SLAVE_PID"] = "slave(1)@10.0.0.3:5052"
		env["MESOS_SANDBOX"] = "/mnt/mesos/sandbox"
		env["MESOS_CHECKPOINT"] = "1"
		env["MESOS_RECOVERY_TIMEOUT"] = "1mins"
		env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = "250ms"
		env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] = "7secs"
		env["MESOS_EXECUTOR_AUTHENTICATION_TOKEN"] = "jwt"
		cfg, err := FromEnv(envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.url() != "http://10.0.0.3:5052/slave(1)/api/v1/executor" {
			t.Errorf("url = %s", cfg.url())
		}
		if !cfg.Checkpoint || cfg.RecoveryTimeout != time.Minute || cfg.SubscriptionBackoffMax != 250*time.Millisecond ||
			cfg.ShutdownGracePeriod != 7*time.Second || cfg.AuthenticationToken != "jwt" || cfg.Sandbox != "/mnt/mesos/sandbox" {
			t.Errorf("cfg = %+v", cfg)
		}
	})
	for name, mutate := range map[string]func(map[string]string){
		"no framework id": func(m map[string]string) { delete(m, "MESOS_FRAMEWORK_ID") },
		"no executor id":  func(m map[string]string) { delete(m, "MESOS_EXECUTOR_ID") },
		"no agent":        func(m map[string]string) { delete(m, "MESOS_AGENT_ENDPOINT") },
		"bad endpoint":    func(m map[string]string) { m["MESOS_AGENT_ENDPOINT"] = "nohostport" },
		"bad pid": func(m map[string]string) {
			delete(m, "MESOS_AGENT_ENDPOINT")
			m["MESOS_SLAVE_PID"] = "10.0.0.1:5051"
		},
		"bad duration": func(m map[string]string) { m["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] = "5 parsecs" },
	} {
		t.Run(name, func(t *testing.T) {
			env := base()
			mutate(env)
			if _, err := FromEnv(envOf(env)); !errors.Is(err, ErrConfig) {
				t.Errorf("FromEnv = %v, want ErrConfig", err)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5secs":     5 * time.Second,
		"1.5mins":   90 * time.Second,
		"250ms":     250 * time.Millisecond,
		"10us":      10 * time.Microsecond,
		"7ns":       7,
		"2hrs":      2 * time.Hour,
		"1days":     24 * time.Hour,
		"1weeks":    7 * 24 * time.Hour,
		"0ns":       0,
		"3s":        3 * time.Second,
		" 15mins  ": 15 * time.Minute,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "secs", "5", "5 secs", "NaNsecs", "5parsecs"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
}
