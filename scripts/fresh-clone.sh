#!/usr/bin/env bash
# The newcomer's path on one Node.js major version: a fresh `git clone` of this checkout into DIR, then the README's
# Development commands exactly as written (scripts/readme-commands.mjs) — `npm install && npm run demo`, then
# `npm test` — with no build or install step of CI's own in between. SCOPE says how far it goes after the first command:
# `all` (the default) the README's second command, the whole `npm test`; `contract` the guard's contract suites on real
# servers instead (jest's `integration` project); `first` nothing (the README's first command alone: the install, the
# build and the demo on that Node). Fails when the demo's output does not show the race and the fix, or when a command
# fails. Logs go to DIR.log.first and DIR.log.test; the last line, also in DIR.summary, is "node vX.Y.Z: N passed,
# N failed" — jest's counts, or for `first` the first command as one check.
# With SHARE_PREBUILT=LIST, a better-sqlite3 that the install compiled from source is then put in npm's prebuilt cache
# for later installs on the same Node ABI (scripts/share-prebuilt.mjs; after the first command, never inside it).
# Usage: scripts/fresh-clone.sh MAJOR DIR [all|contract|first]
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
case "$scope" in
	all) ;;
	contract)
		test_command='node --expose-gc node_modules/jest/bin/jest.js --selectProjects integration'
		label="$label (contract suites)"
		;;
	first) label="$label (the README's first command)" ;;
	*) echo "usage: $0 MAJOR DIR [all|contract|first]" >&2; exit 2 ;;
esac
[ "$first" = "npm install && npm run demo" ] || echo "note: the README's first command is now: $first"

started=$SECONDS
first_ok=true
if ! bash -c "$first" >"$dir.log.first" 2>&1; then
	tail -n 40 "$dir.log.first"
	echo "\`$first\` failed on node $(node --version) (full log: $dir.log.first)"
	first_ok=false
fi
[ "$first_ok" = false ] || echo "\`$first\`: $((SECONDS - started)) s"
if [ "$first_ok" = true ] && ! node scripts/check-demo-output.mjs "$dir.log.first"; then
	first_ok=false
fi

if [ "$first_ok" = true ] && [ -n "${SHARE_PREBUILT:-}" ]; then
	node scripts/share-prebuilt.mjs node_modules/better-sqlite3 "$SHARE_PREBUILT" || echo "share-prebuilt: left out (the installs after it compile better-sqlite3 themselves)"
fi

if [ "$scope" = first ] || [ "$first_ok" = false ]; then
	# One check: the README's first command ran and the demo showed the race and the fix.
	{
		[ "$first_ok" = true ] || echo "failed: \`$first\` on node $(node --version) (log: $dir.log.first)"
		if [ "$first_ok" = true ]; then echo "$label: 1 passed, 0 failed"; else echo "$label: 0 passed, 1 failed"; fi
	} | tee "$dir.summary"
	[ "$first_ok" = true ]
	exit
fi

started=$SECONDS
code=0
bash -c "$test_command" >"$dir.log.test" 2>&1 || code=$?
grep -q -E '^Tests:' "$dir.log.test" || tail -n 40 "$dir.log.test"
echo "\`$test_command\` on node $(node --version): exit $code, $((SECONDS - started)) s (full log: $dir.log.test)"
node scripts/jest-summary.mjs "$dir.log.test" "$label" "$code" | tee "$dir.summary"
exit "$code"
