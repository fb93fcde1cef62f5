#!/usr/bin/env node
// Prints "LABEL: N passed, N failed" from jest's "Tests:" line in LOG (what `npm test` printed). A run that failed
// without reporting (a type error, a lint error, a crash) counts as one failure, so no failed run reads as green.
// Before it, the title of each failed test and the first lines of its error, so that a CI log names what failed even
// when the full log is gone.
// Usage: node scripts/jest-summary.mjs LOG LABEL EXIT_CODE
import {existsSync, readFileSync} from 'node:fs';

const [log, label, exitCode] = process.argv.slice(2);
const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
const tests = /^Tests:(.*)$/m.exec(text)?.[1];
const passed = Number(/(\d+) passed/.exec(tests ?? '')?.[1] ?? 0);
let failed = Number(/(\d+) failed/.exec(tests ?? '')?.[1] ?? 0);
if (Number(exitCode) !== 0 && failed === 0) {
	failed = 1;
}

if (failed > 0) {
	const lines = text.split('\n');
	// jest prints each failure twice (under its file, then in the summary of failing tests): each title once.
	const shown = new Set();
	for (const [index, line] of lines.entries()) {
		const title = line.trim().slice(2);
		if (/^\s+● /.test(line) && !/● Console/.test(line) && !shown.has(title) && shown.size < 10) {
			shown.add(title);
			console.log(`failed: ${title}`);
			for (const detail of lines.slice(index + 1, index + 12).filter(l => l.trim() !== '')) {
				console.log(`    ${detail.trim()}`);
			}
		}
	}
}

console.log(`${label}: ${passed} passed, ${failed} failed`);
