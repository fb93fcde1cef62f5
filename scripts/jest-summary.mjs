#!/usr/bin/env node
// Prints "LABEL: N passed, N failed" from jest's "Tests:" line in LOG (what `npm test` printed). A run that failed
// without reporting (a type error, a lint error, a crash) counts as one failure, so no failed run reads as green.
// Usage: node scripts/jest-summary.mjs LOG LABEL EXIT_CODE
import {existsSync, readFileSync} from 'node:fs';

const [log, label, exitCode] = process.argv.slice(2);
const tests = existsSync(log) ? /^Tests:(.*)$/m.exec(readFileSync(log, 'utf8'))?.[1] : undefined;
const passed = Number(/(\d+) passed/.exec(tests ?? '')?.[1] ?? 0);
let failed = Number(/(\d+) failed/.exec(tests ?? '')?.[1] ?? 0);
if (Number(exitCode) !== 0 && failed === 0) {
	failed = 1;
}

console.log(`${label}: ${passed} passed, ${failed} failed`);
