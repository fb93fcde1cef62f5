#!/usr/bin/env node
// `npm run example:nextjs`: serves examples/nextjs with `next start`. Installs the app's own packages when they are
// missing, builds it when there is no build or a source is newer than it, then starts it with the environment
// (PORT, REDIS_URL, DATABASE_URL, RATE_LIMIT_LIMIT, RATE_LIMIT_WINDOW_MS, TRUST_PROXY, …; see examples/README.md) and
// prints the address once it answers. The app imports the example stores and the built package from this repository,
// so the repository's own `npm install` comes first.
import {spawn, spawnSync} from 'node:child_process';
import {existsSync, readdirSync, statSync} from 'node:fs';
import {join, resolve} from 'node:path';

const root = resolve(import.meta.dirname, '..');
const app = join(root, 'examples', 'nextjs');
const env = {...process.env, NEXT_TELEMETRY_DISABLED: '1'};
const port = Number(process.env.PORT || 3000);
const nextBin = join(app, 'node_modules', 'next', 'dist', 'bin', 'next');

const step = (what, command, arguments_) => {
	console.error(`example:nextjs: ${what}`);
	const {status} = spawnSync(command, arguments_, {cwd: app, env, stdio: ['ignore', 'inherit', 'inherit']});
	if (status !== 0) {
		console.error(`example:nextjs: ${what} failed`);
		process.exit(status ?? 1);
	}
};

if (!existsSync(join(root, 'dist', 'index.js')) || !existsSync(join(root, 'node_modules'))) {
	console.error('example:nextjs: run `npm install` in the repository first (it builds dist/ and the Prisma clients).');
	process.exit(1);
}

if (!existsSync(nextBin)) {
	step('installing the app\'s packages (examples/nextjs)', 'npm', ['install', '--no-audit', '--no-fund']);
}

/** The newest modification time under `path` (files only), skipping what the build and installs write. */
function newest(path) {
	const stats = statSync(path);
	if (!stats.isDirectory()) {
		return stats.mtimeMs;
	}

	return Math.max(0, ...readdirSync(path)
		.filter(name => !['node_modules', '.next', '.data', 'generated'].includes(name))
		.map(name => newest(join(path, name))));
}

const buildId = join(app, '.next', 'BUILD_ID');
const sources = [app, join(root, 'examples', 'rate-limit'), join(root, 'dist')];
if (!existsSync(buildId) || Math.max(...sources.map(newest)) > statSync(buildId).mtimeMs) {
	step('building (next build --webpack)', process.execPath, [nextBin, 'build', '--webpack']);
}

const server = spawn(process.execPath, [nextBin, 'start', '--port', String(port), '--hostname', '127.0.0.1'], {
	cwd: app,
	env,
	stdio: ['ignore', 'pipe', 'inherit'],
});
let announced = false;
server.stdout.on('data', chunk => {
	process.stdout.write(chunk);
	if (!announced && /Ready in/.test(String(chunk))) {
		announced = true;
		console.log(`example:nextjs: serving on http://127.0.0.1:${port} (GET /api/hello, GET /api/limited/…)`);
	}
});
for (const signal of ['SIGINT', 'SIGTERM']) {
	process.once(signal, () => {
		server.kill(signal);
	});
}

server.once('exit', code => {
	process.exit(code ?? 0);
});
