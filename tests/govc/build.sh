#!/bin/sh
# Builds govc, govmomi's CLI, offline: Debian ships govmomi 0.24.2's
# library (golang-github-vmware-govmomi-dev) but not its govc/ directory,
# so the command packages the interop tests use (about, ls, vm, datastore
# and what they import: cli, flags, host/esxcli) are kept here verbatim
# from govmomi v0.24.2 (Apache-2.0, LICENSE.txt) and built in GOPATH mode
# over Debian's library. govc/ must sit inside github.com/vmware/govmomi
# for Go's internal-package rule, hence the overlay of symlinks.
#
# Usage: tests/govc/build.sh OUT_DIR   (writes OUT_DIR/govc)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1
lib=/usr/share/gocode/src/github.com/vmware/govmomi
[ -d "$lib/vim25" ] || { echo "missing $lib: apt-get install golang-github-vmware-govmomi-dev" >&2; exit 1; }
command -v go >/dev/null || { echo "missing go: apt-get install golang-go" >&2; exit 1; }
mkdir -p "$out"
overlay="$out/gopath/src/github.com/vmware/govmomi"
rm -rf "$out/gopath"
mkdir -p "$overlay"
for e in "$lib"/*; do ln -s "$e" "$overlay/"; done
ln -s "$here/govc" "$overlay/govc"
cd "$here"
GO111MODULE=off GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/gocache" \
    go build -o "$out/govc.tmp" .
mv "$out/govc.tmp" "$out/govc"
