#!/usr/bin/env node
// `npm run example:nestjs`: serves examples/nestjs (compiled with tsc when needed: Nest's dependency injection reads
// the decorator metadata only tsc emits), with the environment (PORT, REDIS_URL or REDIS_CLUSTER_NODES or
// REDIS_SENTINELS, DATABASE_URL, RATE_LIMIT_LIMIT, RATE_LIMIT_WINDOW_MS, TRUST_PROXY, …; see examples/README.md), and
// prints the address once it answers.
import {join} from 'node:path';
import {root, runExampleApp} from './example-app.mjs';

const dir = join(root, 'examples', 'nestjs');
const main = join(dir, 'dist', 'nestjs', 'src', 'main.js');
runExampleApp({
	name: 'example:nestjs',
	dir,
	installed: join(dir, 'node_modules', '@nestjs', 'throttler', 'package.json'),
	built: main,
	build: [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
	start: [main],
	ready: /nestjs: serving on/,
	routes: 'GET /hello, GET /hello/strict, GET /health',
});
