#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short time each, so CI
# exercises the decoders with generated input. Usage: scripts/fuzz.sh 10s
set -euo pipefail
fuzztime=${1:-10s}
go list -f '{{.ImportPath}} {{.Dir}}' ./... | while read -r pkg dir; do
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" >/tmp/fuzz-$$.log 2>&1 || {
      cat /tmp/fuzz-$$.log; exit 1; }
  done
done
echo "fuzz: all targets passed"
