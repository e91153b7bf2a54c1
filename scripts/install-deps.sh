#!/usr/bin/env bash
# Installs what meso's build and test suite need on a Debian machine:
# protoc (to check the committed generated code is fresh), for the
# ZooKeeper integration tests the zookeeper package, bzip2 (the
# fetcher's tests make .tar.bz2 archives with it: Go only decompresses),
# and chromium (the web UI's tests drive it headless with chromedp).
set -euo pipefail

need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
[ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1 || need+=(zookeeper)
command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing ${need[*]} and no apt-get; install them by hand" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing ${need[*]} (Debian packages)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "install-deps: protoc $(protoc --version | awk '{print $2}')"
echo "install-deps: zookeeper $(ls /usr/share/java/zookeeper-3*.jar 2>/dev/null | head -1 | sed 's/.*zookeeper-//; s/\.jar$//')"
echo "install-deps: $(chromium --version 2>/dev/null || echo 'chromium: not found')"
