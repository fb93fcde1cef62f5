#!/usr/bin/env node
// Type-checks every ```ts block of README.md, examples/README.md and docs/*.md and every JSDoc @example of src/
// against the built package (self-reference) and the examples, so none can drift from the API. Each block becomes its
// own module; names the prose takes as given (an app's `client`, `redis`, `app`, ...) and the package's exports are
// declared in a shared prelude.
import {execFileSync} from 'node:child_process';
import {mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {join, resolve} from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = join(root, '.tmp', 'readme');
rmSync(out, {recursive: true, force: true});
mkdirSync(out, {recursive: true});

// Snippets import the examples relative to their own file; each snippet module lives two folders below the root.
const blocksOf = (file, examplesPrefix) => [...readFileSync(join(root, file), 'utf8').matchAll(/^```ts\n([\s\S]*?)^```$/gm)]
	.map(match => match[1].replaceAll(examplesPrefix, "'../../examples/"));
const docs = readdirSync(join(root, 'docs')).filter(file => file.endsWith('.md')).map(file => `docs/${file}`);
const readmeBlocks = [
	...blocksOf('README.md', "'./examples/"),
	...blocksOf('examples/README.md', "'./"),
	...docs.flatMap(file => blocksOf(file, "'../examples/")),
];
const jsdocBlocks = readdirSync(join(root, 'src')).filter(file => file.endsWith('.ts')).flatMap(file =>
	[...readFileSync(join(root, 'src', file), 'utf8').matchAll(/@example\n```\n([\s\S]*?)\n```/g)].map(match => match[1]));
if (readmeBlocks.length === 0 || jsdocBlocks.length === 0) {
	throw new Error('No ```ts blocks in README.md, or no @example in src/');
}

const blocks = [...readmeBlocks, ...jsdocBlocks];

writeFileSync(join(out, 'prelude.d.ts'), `import type * as IORedis from 'ioredis';
import type {Express} from 'express';
import type * as Guard from 'connection-guard';

declare global {
	// What the snippets take as given in an app.
	const client: IORedis.Redis;
	const redis: Guard.RedisGuard<IORedis.Redis>;
	const guard: Guard.RedisGuard<IORedis.Redis>;
	const app: Express;
	const source: string;
	const api: {user(id: string): Promise<unknown>};
	const db: {
		user: {findUnique(query: {where: {id: string}}): Promise<unknown>};
		users: {find(id: string): Promise<unknown>};
	};
	// JSDoc examples use the package's exports and ioredis without importing them.
	const Redis: typeof IORedis.Redis;
	type Redis = IORedis.Redis;
	const guardedRedis: typeof Guard.guardedRedis;
	const singleFlight: typeof Guard.singleFlight;
	const backoffWithJitter: typeof Guard.backoffWithJitter;
	type RedisGuard<C> = Guard.RedisGuard<C>;
	type RedisLikeClient = Guard.RedisLikeClient;
	type ConnectionGuardErrorCode = Guard.ConnectionGuardErrorCode;
}
`);
for (const [index, code] of blocks.entries()) {
	writeFileSync(join(out, `snippet-${String(index + 1).padStart(2, '0')}.ts`), `${code}\nexport {};\n`);
}
writeFileSync(join(out, 'tsconfig.json'), JSON.stringify({
	extends: '../../tsconfig.json',
	compilerOptions: {noUnusedLocals: false, types: ['node']},
	include: ['*.ts'],
}, null, 2));

execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', out], {stdio: 'inherit'});
console.log(`READMEs and JSDoc: ${readmeBlocks.length} + ${jsdocBlocks.length} TypeScript snippets type-check.`);
