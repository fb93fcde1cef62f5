#!/usr/bin/env node
// Reads what `npm run demo` printed (its tables, as a newcomer sees them) and fails unless it shows the race and the
// fix: the naive and connecting-promise variants fail callers, the guard makes one connect() with no error and no
// fallback, and after the outage only the guard is back on Redis.
// Usage: node scripts/check-demo-output.mjs LOG
import {readFileSync} from 'node:fs';

const output = readFileSync(process.argv[2], 'utf8');
const row = name => {
	const cells = new RegExp(`^\\|\\s*${name}\\s*\\|(.*)\\|\\s*$`, 'm').exec(output)?.[1].split('|').map(cell => cell.trim());
	return cells && {connectCalls: Number(cells[0]), errors: Number(cells[1]), fallbacks: Number(cells[2])};
};

const naive = row('naive');
const connectingPromise = row('connectingPromise');
const guarded = row('guarded');
const recovered = [...output.matchAll(/^\|\s*(connectingPromise|guarded)\s*\|\s*(yes|no)\b/gm)]
	.map(([, name, answer]) => `${name}: ${answer}`);
const problems = [
	!(naive?.errors > 0) && 'naive: no errors shown (the race)',
	!(connectingPromise?.errors > 0) && 'connectingPromise: no errors shown',
	!(guarded?.connectCalls === 1 && guarded.errors === 0 && guarded.fallbacks === 0)
		&& 'guarded: not one connect() with zero errors and fallbacks',
	recovered.join(', ') !== 'connectingPromise: no, guarded: yes' && `round 2: ${recovered.join(', ') || 'missing'}`,
].filter(Boolean);

if (problems.length > 0) {
	console.error(`demo output does not show the race and the fix:\n- ${problems.join('\n- ')}`);
	process.exit(1);
}

console.log(`demo: naive ${naive.errors} errors, connectingPromise ${connectingPromise.errors} errors; guarded 1 connect(), 0 errors; only the guard recovered`);
