#!/usr/bin/env node
// Prints the commands of the README's "Development" block, one a line, without their comments: what a newcomer types.
// CI runs them from here so that they are the README's, word for word (scripts/fresh-clone.sh).
// Usage: node scripts/readme-commands.mjs [README.md]
import {readFileSync} from 'node:fs';

const readme = readFileSync(process.argv[2] ?? 'README.md', 'utf8');
const block = /^## Development\n[\s\S]*?^```sh\n([\s\S]*?)^```/m.exec(readme)?.[1];
if (!block) {
	console.error('README.md has no ```sh block under "## Development"');
	process.exit(1);
}

for (const line of block.split('\n')) {
	const command = line.replace(/\s+#.*$/, '').trim();
	if (command) {
		console.log(command);
	}
}
