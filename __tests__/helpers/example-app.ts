// Starts an example app (examples/nextjs, examples/nestjs) through its `npm run example:…` script on a free port, with
// a SQLite fallback database of its own, and talks to it over HTTP.
import {spawn, type ChildProcess} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {cli, freePort, type RedisServer} from '../servers/redis-server.js';
import {until} from './until.js';

const root = resolve(__dirname, '../..');

export type App = {url: string; output(): string; exited: Promise<number | null>; stop(): Promise<void>};

/** `scripts/example-NAME.mjs` on a free port; resolves once it serves, rejects with its output if it exits first. */
export async function startApp(name: 'nextjs' | 'nestjs', env: Record<string, string>): Promise<App> {
	const port = await freePort();
	const dataDir = mkdtempSync(join(tmpdir(), `connection-guard-${name}-`));
	const child: ChildProcess = spawn(process.execPath, [join(root, `scripts/example-${name}.mjs`)], {
		cwd: root,
		env: {...process.env, PORT: String(port), DATABASE_URL: `file:${join(dataDir, 'rate-limit.db')}`, ...env},
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let output = '';
	const collect = (chunk: Buffer) => {
		output += chunk.toString();
	};

	child.stdout!.on('data', collect);
	child.stderr!.on('data', collect);
	let done = false;
	const exited = new Promise<number | null>(resolve => child.once('exit', code => {
		done = true;
		resolve(code);
	}));
	const serving = () => output.includes(`example:${name}: serving on`);
	await until(() => done || serving(), 200_000);
	if (!serving()) {
		rmSync(dataDir, {recursive: true, force: true});
		throw new Error(`example:${name} exited:\n${output}`);
	}

	return {
		url: `http://127.0.0.1:${port}`,
		output: () => output,
		exited,
		async stop() {
			child.kill('SIGTERM');
			await exited;
			rmSync(dataDir, {recursive: true, force: true});
		},
	};
}

export async function get(app: App, path: string, headers: Record<string, string> = {}) {
	const response = await fetch(`${app.url}${path}`, {headers});
	return {status: response.status, headers: response.headers, body: await response.json() as Record<string, unknown>};
}

/** `count` concurrent requests; the statuses, sorted. */
export async function herd(app: App, count: number, path: string, headers: Record<string, string> = {}) {
	const responses = await Promise.all(Array.from({length: count}, async () => get(app, path, headers)));
	return responses.map(response => response.status).sort();
}

export const statuses = (allowed: number, limited: number) =>
	[...Array.from({length: allowed}, () => 200), ...Array.from({length: limited}, () => 429)];

export const count = (text: string, line: string) => text.split(line).length - 1;

/** Connections the server has accepted so far (each redis-cli call is one, too). */
export async function connectionsReceived(server: RedisServer): Promise<number> {
	return Number(/total_connections_received:(\d+)/.exec(await cli(server.port, 'INFO', 'stats'))![1]);
}

/** One request every 100 ms until `done()` holds (100 at most): waits out a cooldown that only a request ends. */
export async function requestUntil(
	app: App, path: string, headers: Record<string, string>, done: () => boolean,
): Promise<void> {
	for (let tries = 0; tries < 100 && !done(); tries++) {
		// eslint-disable-next-line no-await-in-loop
		await get(app, path, headers);
		// eslint-disable-next-line no-await-in-loop
		await new Promise(resolve => {
			setTimeout(resolve, 100);
		});
	}
}
