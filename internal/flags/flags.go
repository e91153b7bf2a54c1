// Package flags implements Mesos's command-line flag rules on top of the
// standard library flag package.
//
// Mesos (stout's FlagsBase) accepts --name=value and bare --name for
// booleans, negates booleans with --no-name, falls back to MESOS_<NAME>
// environment variables for flags not given on the command line, and
// replaces values of the form file:///path with the file's contents. It also
// has its own textual forms for durations ("15secs") and byte sizes ("2GB"),
// which appear in flags, environment variables and the /flags endpoint.
// Flags are declared with the standard library (fs.StringVar, fs.Var with
// Duration or Bytes, ...); Parse only changes how they are read.
package flags

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// ErrUnknownFlag is returned (wrapped, with the flag's name) when the command
// line names a flag that the FlagSet does not define.
var ErrUnknownFlag = errors.New("flags: unknown flag")

// Option adjusts Parse.
type Option func(*options)

type options struct {
	noFileExpansion map[string]bool
}

// NoFileExpansion names flags whose values are taken literally even when they
// start with "file://" (for example a flag that itself holds a URI).
func NoFileExpansion(names ...string) Option {
	return func(o *options) {
		for _, n := range names {
			o.noFileExpansion[n] = true
		}
	}
}

// boolFlag is the interface the standard library uses to mark boolean flags.
type boolFlag interface {
	flag.Value
	IsBoolFlag() bool
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(boolFlag)
	return ok && b.IsBoolFlag()
}

// Parse parses args (without the program name) into fs with Mesos's rules:
//
//   - --name=value, and --name value for non-boolean flags;
//   - booleans: --name (true), --no-name (false), --name=true|false;
//   - "--" ends flag parsing; anything not starting with "--" is positional
//     (like Mesos, a single dash does not introduce a flag);
//   - a flag given twice is an error, as in Mesos;
//   - every flag not given on the command line is read from the environment
//     variable envPrefix+UPPER(name) (envPrefix is "MESOS_" for Mesos
//     compatibility); an empty value for a boolean means true;
//   - a value "file:///path" (or "file://relative") is replaced by the
//     whitespace-trimmed contents of that file, except for flags listed with
//     NoFileExpansion.
//
// lookupEnv defaults to os.LookupEnv when nil. --help (or -h, -help) returns
// flag.ErrHelp when fs defines no "help" flag. Unknown flags yield an error
// wrapping ErrUnknownFlag that names the flag and suggests --help. Parse
// returns the positional arguments.
func Parse(fs *flag.FlagSet, args []string, envPrefix string, lookupEnv func(string) (string, bool), opts ...Option) ([]string, error) {
	o := options{noFileExpansion: map[string]bool{}}
	for _, opt := range opts {
		opt(&o)
	}
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}

	var positional []string
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		arg := strings.TrimSpace(args[i])
		if arg == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if (arg == "-h" || arg == "-help" || arg == "--help") && fs.Lookup("help") == nil {
			return nil, flag.ErrHelp
		}
		if !strings.HasPrefix(arg, "--") {
			positional = append(positional, args[i])
			continue
		}

		name, value, hasValue := strings.Cut(arg[2:], "=")
		negated := false
		f := fs.Lookup(name)
		if f == nil && strings.HasPrefix(name, "no-") {
			if g := fs.Lookup(name[3:]); g != nil && isBool(g) {
				f, negated = g, true
			}
		}
		if f == nil {
			return nil, fmt.Errorf("%w '%s'; see --help for the list of flags", ErrUnknownFlag, name)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("flags: flag '%s' is given more than once", f.Name)
		}
		seen[f.Name] = true

		switch {
		case negated:
			if hasValue {
				return nil, fmt.Errorf("flags: failed to load boolean flag '%s' via '--%s' with value '%s'", f.Name, name, value)
			}
			value = "false"
		case isBool(f):
			if !hasValue {
				value = "true"
			}
		case !hasValue:
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flags: failed to load non-boolean flag '%s': missing value", f.Name)
			}
			i++
			value = args[i]
		}
		if err := set(fs, f, value, "--"+name, o); err != nil {
			return nil, err
		}
	}

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if envErr != nil || seen[f.Name] {
			return
		}
		key := envPrefix + strings.ToUpper(f.Name)
		value, ok := lookupEnv(key)
		if !ok {
			return
		}
		if value == "" && isBool(f) {
			value = "true"
		}
		envErr = set(fs, f, value, "environment variable "+key, o)
	})
	if envErr != nil {
		return nil, envErr
	}
	return positional, nil
}

// set expands file:// values and stores value into f through fs.Set, so that
// fs.Visit reports the flag as set.
func set(fs *flag.FlagSet, f *flag.Flag, value, source string, o options) error {
	_, isPath := f.Value.(pathFlag)
	if path, ok := strings.CutPrefix(value, "file://"); ok && !o.noFileExpansion[f.Name] && !isPath {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("flags: failed to load flag '%s' from %s: %w", f.Name, source, err)
		}
		value = strings.TrimSpace(string(data))
	}
	if err := fs.Set(f.Name, value); err != nil {
		return fmt.Errorf("flags: failed to load flag '%s' from %s: %w", f.Name, source, err)
	}
	return nil
}

// Dump returns every flag's current (effective) value as a string, keyed by
// name, for the /flags endpoint and the "flags" object of /state. As in
// Mesos, optional flags that have no value (the empty string) are left out.
func Dump(fs *flag.FlagSet) map[string]string {
	out := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if v := f.Value.String(); v != "" {
			out[f.Name] = v
		}
	})
	return out
}
