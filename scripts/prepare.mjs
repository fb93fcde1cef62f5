#!/usr/bin/env node
// `prepare`: npm runs it after `npm install` in a clone, and in its own clone when an app installs this repository from
// git. Both need `dist/` (the examples, the demo and a git install import the package by its name) and the examples'
// Prisma clients. The two are independent, so they run side by side: `npm install` stays as quick as it was with the
// Prisma step alone.
import {spawn} from 'node:child_process';
import {resolve} from 'node:path';

const root = resolve(import.meta.dirname, '..');
const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];

const run = async script => new Promise((resolvePromise, reject) => {
	const child = spawn(npm[0], [...npm[1], 'run', '--silent', script], {cwd: root, stdio: 'inherit'});
	child.once('error', reject);
	child.once('exit', code => {
		if (code === 0) {
			resolvePromise();
		} else {
			reject(new Error(`npm run ${script} exited with ${code}`));
		}
	});
});

try {
	await Promise.all([run('build'), run('prisma:generate')]);
} catch (error) {
	console.error(`prepare: ${error.message}`);
	process.exit(1);
}
