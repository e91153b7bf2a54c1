#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short time each, so CI
# exercises the decoders with generated input. Usage: scripts/fuzz.sh 10s
set -euo pipefail
fuzztime=${1:-10s}
go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz: $pkg $target ($fuzztime)"
    for attempt in 1 2; do
      if go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" >/tmp/fuzz-$$.log 2>&1; then
        break
      fi
      # The fuzzing engine itself sometimes gives up on a worker that is
      # slow to answer on a loaded machine ("context deadline exceeded",
      # no failing input): that is not a finding, so try once more.
      if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' /tmp/fuzz-$$.log &&
        ! grep -q 'Failing input written' /tmp/fuzz-$$.log; then
        echo "fuzz: $target: the fuzzing engine timed out a worker (no failing input); again"
        continue
      fi
      cat /tmp/fuzz-$$.log; exit 1
    done
  done
done
echo "fuzz: all targets passed"
