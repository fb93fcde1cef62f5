// What failed in a Bun or Deno run of the contract suites, as the CI's closing summary prints it: "failed: TITLE" and
// the error's first lines indented under it. Bun's reporter prints a failure's error above its "(fail) TITLE" line;
// on Deno the jest shim (__tests__/runtimes/jest-globals.ts) prints these lines itself.
// Usage: node scripts/runtime-failures.mjs bun|deno LOG
import {readFileSync} from 'node:fs';

const [runtime, log] = process.argv.slice(2);
const lines = readFileSync(log, 'utf8').split('\n');
const failures = [];
if (runtime === 'bun') {
	let blockStart = 0;
	for (const [index, line] of lines.entries()) {
		if (line.startsWith('(pass) ')) {
			blockStart = index + 1;
		} else if (line.startsWith('(fail) ')) {
			const block = lines.slice(blockStart, index);
			const errorAt = block.findIndex(text => text.startsWith('error'));
			const details = errorAt === -1 ? [] : block.slice(errorAt).filter(text => text.trim() !== '').slice(0, 5);
			// A timeout is said under the (fail) line: "  ^ this test timed out after 100ms."
			const after = lines[index + 1] ?? '';
			if (after.trimStart().startsWith('^')) details.push(after.trim());
			failures.push({title: line.slice('(fail) '.length).replace(/ \[[\d.]+m?s\]$/, ''), details});
			blockStart = index + 1;
		}
	}
} else {
	for (const [index, line] of lines.entries()) {
		if (!line.startsWith('failed: ')) continue;
		const details = [];
		for (const detail of lines.slice(index + 1)) {
			if (!detail.startsWith('    ')) break;
			details.push(detail.trim());
		}
		failures.push({title: line.slice('failed: '.length), details});
	}
}

for (const {title, details} of failures.slice(0, 10)) {
	console.log(`failed: ${title}`);
	for (const detail of details) console.log(`    ${detail}`);
}
if (failures.length > 10) console.log(`failed: … and ${failures.length - 10} more (the log has them all)`);
