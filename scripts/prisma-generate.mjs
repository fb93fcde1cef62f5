#!/usr/bin/env node
// Generates the example Prisma clients (SQLite and PostgreSQL). Prisma 7 generates with WASM, but its CLI still looks
// for a native schema engine it would download (unreachable here and unneeded for `generate`): any existing file
// satisfies it.
import {execFileSync} from 'node:child_process';
import {resolve} from 'node:path';

const root = resolve(import.meta.dirname, '..');
for (const provider of ['sqlite', 'postgres']) {
	execFileSync('npx', ['--no-install', 'prisma', 'generate', '--schema', `examples/rate-limit/prisma/${provider}/schema.prisma`], {
		cwd: root,
		stdio: 'inherit',
		env: {
			...process.env,
			PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
			PRISMA_HIDE_UPDATE_MESSAGE: '1',
		},
	});
}
