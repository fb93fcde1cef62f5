#!/usr/bin/env bash
# The guard's contract suites on real servers on Bun and Deno (binaries from the npm registry, cached outside the
# clone): the jest files of __tests__/integration, run by `bun test` / `deno test` through __tests__/runtimes. Needs
# an installed clone (node_modules and dist/, as after `npm install`). Each runtime has a folder of its own: an
# `npm install --no-save` of one into a shared folder removed the other (npm prunes what no package.json names), under a
# suite that was running on it when CI ran the two side by side.
# Usage: scripts/other-runtimes.sh bun|deno LOG  — prints "RUNTIME VERSION: N passed, N failed", then a "failed: TITLE"
#        line for each failure with its error's first lines under it;
#        scripts/other-runtimes.sh bun|deno --fetch — only installs the binary (if missing) and prints its version.
set -euo pipefail
cd "$(dirname "$0")/.."

runtime=$1
log=$2
home="${XDG_CACHE_HOME:-$HOME/.cache}/connection-guard/runtimes/$runtime"
case "$runtime" in
	bun) package='@oven/bun-linux-x64@^1.4'; binary="$home/node_modules/@oven/bun-linux-x64/bin/bun" ;;
	deno) package='@deno/linux-x64-glibc@^2.9'; binary="$home/node_modules/@deno/linux-x64-glibc/deno" ;;
	*) echo "usage: $0 bun|deno LOG" >&2; exit 2 ;;
esac
if [ ! -x "$binary" ]; then
	mkdir -p "$home"
	# --prefix: without it npm installs into the nearest parent folder with a node_modules.
	npm install --prefix "$home" --no-save --no-audit --no-fund --no-package-lock "$package" >/dev/null
fi
version=$("$binary" --version | head -n 1)
if [ "$log" = --fetch ]; then
	echo "$version"
	exit 0
fi
mkdir -p "$(dirname "$log")"

suites=./__tests__/runtimes/contract-suites.ts
code=0
if [ "$runtime" = bun ]; then
	"$binary" test "$suites" >"$log" 2>&1 || code=$?
else
	# --sloppy-imports: the suites import `./x.js` for `./x.ts`, as TypeScript's NodeNext resolution wants.
	NO_COLOR=1 "$binary" test -A --no-check --sloppy-imports --node-modules-dir=manual "$suites" >"$log" 2>&1 || code=$?
fi
if [ "$runtime" = bun ]; then
	# Bun's own summary: " N pass" and " N fail" lines.
	counts=$(sed -nE 's/^ *([0-9]+) pass$/\1/p; s/^ *([0-9]+) fail$/\1/p' "$log" | paste -sd ' ')
else
	# The shim's count (__tests__/runtimes/jest-globals.ts).
	counts=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log" | tail -n 1)
fi
read -r passed failed <<<"${counts:-0 1}"
[ "$code" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "$version: $passed passed, $failed failed"
# Under the counts, what failed (the CI's closing summary repeats these lines; a record of only the log's end showed
# "1 failed" and no name).
[ "$failed" -eq 0 ] || node scripts/runtime-failures.mjs "$runtime" "$log" || true
exit "$code"
