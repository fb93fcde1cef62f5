#!/usr/bin/env bash
# The newcomer's path on one Node.js major version: a fresh `git clone` of this checkout into DIR, then the README's
# Development commands exactly as written (scripts/readme-commands.mjs) — `npm install && npm run demo`, then
# `npm test` — with no build or install step of CI's own in between. With `contract`, the second command is the
# guard's contract suites on real servers instead of the whole `npm test` (jest's `integration` project), to keep CI
# within its time on every supported Node. Fails when the demo's output does not show the race and the fix, or when a
# command fails. Logs go to DIR.log.first and DIR.log.test; the last line, also in DIR.summary, is
# "node vX.Y.Z: N passed, N failed" from jest's counts.
# Usage: scripts/fresh-clone.sh MAJOR DIR [contract]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
major=$1
dir=$2
scope=${3:-all}

source "$here/scripts/node-version.sh" "$major"
echo "node $(node --version), npm $(npm --version): fresh clone in $dir"
rm -rf "$dir"
git clone --quiet --no-hardlinks "$here" "$dir"
cd "$dir"

mapfile -t commands < <(node scripts/readme-commands.mjs README.md)
first=${commands[0]}
test_command=${commands[1]}
label="node $(node --version)"
if [ "$scope" = contract ]; then
	test_command='node --expose-gc node_modules/jest/bin/jest.js --selectProjects integration'
	label="$label (contract suites)"
fi
[ "$first" = "npm install && npm run demo" ] || echo "note: the README's first command is now: $first"

started=$SECONDS
if ! bash -c "$first" >"$dir.log.first" 2>&1; then
	tail -n 40 "$dir.log.first"
	echo "\`$first\` failed on node $(node --version) (full log: $dir.log.first)"
	exit 1
fi
echo "\`$first\`: $((SECONDS - started)) s"
node scripts/check-demo-output.mjs "$dir.log.first"

started=$SECONDS
code=0
bash -c "$test_command" >"$dir.log.test" 2>&1 || code=$?
grep -q -E '^Tests:' "$dir.log.test" || tail -n 40 "$dir.log.test"
echo "\`$test_command\` on node $(node --version): exit $code, $((SECONDS - started)) s (full log: $dir.log.test)"
node scripts/jest-summary.mjs "$dir.log.test" "$label" "$code" | tee "$dir.summary"
exit "$code"
