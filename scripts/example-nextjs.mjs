#!/usr/bin/env node
// `npm run example:nextjs`: serves examples/nextjs with `next start` (built with `next build` when needed), with the
// environment (PORT, REDIS_URL, DATABASE_URL, RATE_LIMIT_LIMIT, RATE_LIMIT_WINDOW_MS, TRUST_PROXY, …; see
// examples/README.md), and prints the address once it answers.
import {join} from 'node:path';
import {root, runExampleApp} from './example-app.mjs';

const dir = join(root, 'examples', 'nextjs');
const next = join(dir, 'node_modules', 'next', 'dist', 'bin', 'next');
runExampleApp({
	name: 'example:nextjs',
	dir,
	installed: next,
	built: join(dir, '.next', 'BUILD_ID'),
	build: [next, 'build', '--webpack'],
	start: [next, 'start', '--port', String(Number(process.env.PORT || 3000)), '--hostname', '127.0.0.1'],
	ready: /Ready in/,
	routes: 'GET /api/hello, GET /api/limited/…',
	env: {NEXT_TELEMETRY_DISABLED: '1'},
});
