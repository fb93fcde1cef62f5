#!/usr/bin/env node
// Type-checks every ```ts block of README.md against the built package (self-reference) and the examples, so the README
// cannot drift from the API. Each block becomes its own module; names the prose takes as given (an app's `client`,
// `redis`, `app`, ...) are declared in a shared prelude.
import {execFileSync} from 'node:child_process';
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {join, resolve} from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = join(root, '.tmp', 'readme');
rmSync(out, {recursive: true, force: true});
mkdirSync(out, {recursive: true});

const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map(match => match[1]);
if (blocks.length === 0) {
	throw new Error('No ```ts blocks found in README.md');
}

writeFileSync(join(out, 'prelude.d.ts'), `import type {Redis} from 'ioredis';
import type {Express} from 'express';
import type {RedisGuard} from 'connection-guard';

declare global {
	const client: Redis;
	const redis: RedisGuard<Redis>;
	const app: Express;
	const source: string;
	const db: {user: {findUnique(query: {where: {id: string}}): Promise<unknown>}};
}
`);
const files = blocks.map((code, index) => {
	const file = `snippet-${String(index + 1).padStart(2, '0')}.ts`;
	writeFileSync(join(out, file), `${code.replaceAll("'./examples/", "'../../examples/")}\nexport {};\n`);
	return file;
});
writeFileSync(join(out, 'tsconfig.json'), JSON.stringify({
	extends: '../../tsconfig.json',
	compilerOptions: {noUnusedLocals: false, types: ['node']},
	include: ['*.ts'],
}, null, 2));

execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', out], {stdio: 'inherit'});
console.log(`README: ${files.length} TypeScript snippets type-check.`);
