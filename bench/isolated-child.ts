/*
One configuration of the isolated section (bench/isolated.ts), alone in its process as in an app: one client family,
one store, nothing else run before it. Forked by the parent with IPC; argv[2] is JSON `{configuration, host, port,
quick}`. It builds the configuration, warms it up and says `{ready, url?}`; then, for each `{round, ms, seed}`
message, runs one round and answers `{round, value, cpuUsPerOp, errors}` (operations per second, this process's CPU
time per operation and the calls that failed; for `mixed`, rate and CPU for both `bare` and `run`). HTTP
configurations only serve (the parent runs the load in a process of its own, and asks `{cpu: true}` before and after
it: `{cpu}` is this process's CPU time so far, µs). `{exit: true}` closes everything.
*/
import type {Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';
import express, {type RequestHandler} from 'express';
import {MemoryStore, rateLimit, type Store} from 'express-rate-limit';
import {Redis} from 'ioredis';
import RedisMock from 'ioredis-mock';
import {RedisStore as RateLimitRedisStore} from 'rate-limit-redis';
import {createClient} from 'redis';
import {guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore} from '../examples/rate-limit/fallback-store.js';
import {createRateLimitPrisma, type RateLimitPrisma} from '../examples/rate-limit/prisma-clients.js';
import {PrismaRateLimitStore} from '../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore, type RedisConnectionSource} from '../examples/rate-limit/redis-store.js';
import {keyDraw} from './abuse-keys.mjs';

type Settings = {configuration: string; host: string; port: number; quick: boolean};
const {configuration, host, port} = JSON.parse(process.argv[2]!) as Settings;
const [kind, name] = configuration.split('.') as [string, string];
const concurrency = 64;
const quiet = {warn() {}, info() {}};
const runId = `${Date.now()}:${process.pid}`;
const closers: Array<() => unknown> = [];
let sqliteDir: string | undefined;

async function prisma(): Promise<RateLimitPrisma> {
	sqliteDir = mkdtempSync(join(tmpdir(), 'connection-guard-isolated-'));
	const made = await createRateLimitPrisma(`file:${join(sqliteDir, 'rate-limit.db')}`);
	closers.push(async () => made.prisma.$disconnect());
	return made.prisma;
}

async function ioredis(): Promise<Redis> {
	// As the rate-limit store asks (it warns otherwise); no effect while the connection stays up.
	const client = new Redis({host, port, autoResendUnfulfilledCommands: false});
	client.on('error', () => undefined);
	closers.push(() => client.disconnect());
	await new Promise(resolve => client.once('ready', resolve));
	return client;
}

async function nodeRedis() {
	const client = createClient({socket: {host, port}});
	client.on('error', () => undefined);
	closers.push(() => client.destroy());
	await client.connect();
	return client;
}

const rateLimitRedis = (client: Redis, prefix: string) => new RateLimitRedisStore({
	sendCommand: async (command: string, ...arguments_: string[]) => client.call(command, ...arguments_) as never,
	prefix,
});

type Getter = {get(key: string): Promise<unknown>};

/** The happy path's calls: all keys under their limit (limit 1e9), `k0`…`k999`. */
async function happyCall(): Promise<(key: string) => Promise<unknown>> {
	const windowMs = 60_000;
	switch (name) {
		case 'bareGet': {
			const client = await ioredis();
			return async key => client.get(`bench:get:${key}`);
		}

		case 'runGet': {
			const client = await ioredis();
			const guard = guardedRedis(client, {timeoutMs: 1000});
			return async key => guard.run(redis => redis.get(`bench:get:${key}`));
		}

		case 'bareGetNodeRedis': {
			const client = await nodeRedis();
			return async key => client.get(`bench:get:${key}`);
		}

		case 'runGetNodeRedis': {
			const client = await nodeRedis();
			const guard = guardedRedis(client, {timeoutMs: 1000});
			return async key => guard.run(redis => redis.get(`bench:get:${key}`));
		}

		case 'store': {
			const store = new RedisRateLimitStore({redis: guardedRedis(await ioredis()), windowMs, prefix: `bench:iso:g:${runId}:`});
			return async key => store.increment(key);
		}

		case 'unguardedStore': {
			const client = await ioredis();
			const ready = Promise.resolve(client);
			const unguarded: RedisConnectionSource<Redis> = {
				client, ensureConnected: async () => ready, run: async fn => fn(client),
			};
			const store = new RedisRateLimitStore({redis: unguarded, windowMs, prefix: `bench:iso:u:${runId}:`});
			return async key => store.increment(key);
		}

		case 'fallbackStore': {
			const store = new FallbackRateLimitStore(
				new RedisRateLimitStore({redis: guardedRedis(await ioredis()), windowMs, prefix: `bench:iso:fb:${runId}:`}),
				new PrismaRateLimitStore({prisma: await prisma(), windowMs, prefix: `bench:iso:fb:${runId}:`, cleanupIntervalMs: 0}),
				{logger: quiet},
			);
			return async key => store.increment(key);
		}

		case 'rateLimitRedis': {
			const store = rateLimitRedis(await ioredis(), `bench:iso:r:${runId}:`);
			void store.init({windowMs} as never);
			return async key => store.increment(key);
		}

		default: {
			throw new RangeError(`Unknown configuration \`${configuration}\``);
		}
	}
}

let lastCpuUsPerOp = Number.NaN;
// Calls that failed (a deadline passed on a stalled machine, say), counted rather than ending the process.
let errors = 0;
const cpuNow = () => {
	const {user, system} = process.cpuUsage();
	return user + system;
};

/** `operation` `concurrency` at a time for `ms`, keys from `nextKey`: operations per second (CPU per op aside). */
async function runRound(
	operation: (key: string) => Promise<unknown>, nextKey: () => string, ms: number,
): Promise<number> {
	let ops = 0;
	const endAt = performance.now() + ms;
	const worker = async () => {
		while (performance.now() < endAt) {
			try {
				// eslint-disable-next-line no-await-in-loop
				await operation(nextKey());
			} catch {
				errors++;
			}

			ops++;
		}
	};

	const started = performance.now();
	const cpuBefore = cpuNow();
	await Promise.all(Array.from({length: concurrency}, async () => worker()));
	lastCpuUsPerOp = (cpuNow() - cpuBefore) / ops;
	return ops / ((performance.now() - started) / 1000);
}

function sequentialKeys(): () => string {
	const keys = Array.from({length: 1000}, (_, index) => `k${index}`);
	let index = 0;
	return () => keys[index++ % 1000]!;
}

async function listen(handler: RequestHandler): Promise<{server: Server; url: string}> {
	const app = express();
	app.use(handler);
	app.get('/', (_request, response) => {
		response.json({ok: true});
	});
	app.use(((_error, _request, response, _next) => {
		response.status(500).end();
	}) satisfies express.ErrorRequestHandler);
	return new Promise(resolve => {
		const server = app.listen(0, '127.0.0.1', () => {
			resolve({server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`});
		});
	});
}

type Round = {round: number; ms: number; seed: number};
let onRound: (message: Round) => Promise<unknown>;
let url: string | undefined;

if (kind === 'happy') {
	const call = await happyCall();
	const keys = sequentialKeys();
	// As the in-process rows warm up: 200 at once, then a short round.
	await Promise.all(Array.from({length: 200}, async (_, index) => call(`warm${index}`)));
	await runRound(call, keys, 500);
	errors = 0;
	onRound = async ({ms}) => runRound(call, keys, ms);
} else if (kind === 'abuse') {
	// Imported here only: the abuse module loads the chart libraries, which the other configurations never need.
	const {candidates: abuseCandidates} = await import('./abuse.js');
	// Store level under abuse: the abuse section's own candidates and key mix, hot keys driven past their limit first.
	const made = abuseCandidates[name]!.make(port, `bench:iso:abuse:${runId}:`, name === 'ours' ? await prisma() : undefined as never);
	closers.push(async () => made.close?.());
	const mix = {hotKeys: 10, coldKeys: 10_000, hotShare: 0.9};
	const warm = keyDraw({seed: 1, ...mix});
	await runRound(made.call, warm, 1000);
	errors = 0;
	let keys = warm;
	onRound = async ({ms, seed}) => {
		keys = keyDraw({seed, ...mix});
		return runRound(made.call, keys, ms);
	};
} else if (kind === 'http' || kind === 'abuseHttp') {
	const windowMs = kind === 'http' ? 60_000 : 15 * 60_000;
	// Under the limit: every request allowed (one key, 127.0.0.1). Under abuse: the abuse section's limit and mix.
	const limit = kind === 'http' ? 1e9 : 100;
	let store: Store | undefined;
	if (kind === 'abuseHttp') {
		const {candidates: abuseCandidates} = await import('./abuse.js');
		const made = abuseCandidates[name]!.make(port, `bench:iso:abusehttp:${runId}:`, name === 'ours' ? await prisma() : undefined as never);
		closers.push(async () => made.close?.());
		store = made.store;
	} else if (name === 'guarded') {
		store = new FallbackRateLimitStore(
			new RedisRateLimitStore({redis: guardedRedis(await ioredis()), windowMs, prefix: `bench:iso:http:g:${runId}:`}),
			new PrismaRateLimitStore({prisma: await prisma(), windowMs, prefix: `bench:iso:http:g:${runId}:`, cleanupIntervalMs: 0}),
			{logger: quiet},
		);
	} else if (name === 'rateLimitRedis') {
		store = rateLimitRedis(await ioredis(), `bench:iso:http:r:${runId}:`);
	} else {
		store = new MemoryStore();
	}

	const limiter = rateLimit({
		windowMs, limit, store, standardHeaders: 'draft-8', legacyHeaders: false,
		...kind === 'abuseHttp' && {keyGenerator: (request: express.Request) => request.get('x-client-key') ?? 'none'},
	});
	const listening = await listen(limiter);
	closers.push(() => {
		listening.server.closeAllConnections();
		listening.server.close();
	});
	url = listening.url;
	onRound = async () => undefined;
} else if (kind === 'mixed') {
	// Every family through the same guard functions in one process, then bare and guarded `get` interleaved here: what
	// the in-process rows see, kept beside the isolated ones.
	const mock = guardedRedis(new RedisMock() as never);
	const node = guardedRedis(await nodeRedis());
	const other = guardedRedis(await ioredis());
	for (let index = 0; index < 5000; index++) {
		// eslint-disable-next-line no-await-in-loop
		await Promise.all([
			mock.run((c: Getter) => c.get('a')),
			node.run(async (c: Getter) => c.get('b')),
			other.run((c: Getter) => c.get('c'), {timeoutMs: 2000}),
		]);
	}

	const client = await ioredis();
	const guard = guardedRedis(client, {timeoutMs: 1000});
	const bare = async (key: string) => client.get(`bench:get:${key}`);
	const guarded = async (key: string) => guard.run(redis => redis.get(`bench:get:${key}`));
	const keys = sequentialKeys();
	await runRound(bare, keys, 300);
	await runRound(guarded, keys, 300);
	errors = 0;
	onRound = async ({ms, round}) => {
		const result: Record<string, number> = {};
		const order = round % 2 ? [['run', guarded], ['bare', bare]] as const : [['bare', bare], ['run', guarded]] as const;
		for (const [label, call] of order) {
			// eslint-disable-next-line no-await-in-loop
			result[label] = await runRound(call, keys, ms / 2);
			result[`${label}CpuUsPerOp`] = lastCpuUsPerOp;
		}

		return result;
	};
} else {
	throw new RangeError(`Unknown configuration \`${configuration}\``);
}

process.on('message', async (message: Round | {exit: true} | {cpu: true}) => {
	if ('cpu' in message) {
		process.send!({cpu: cpuNow()});
		return;
	}

	if ('exit' in message) {
		for (const close of closers) {
			// eslint-disable-next-line no-await-in-loop
			await close();
		}

		if (sqliteDir) {
			rmSync(sqliteDir, {recursive: true, force: true});
		}

		process.disconnect();
		return;
	}

	const value = await onRound(message);
	process.send!({round: message.round, value, cpuUsPerOp: lastCpuUsPerOp, errors});
	errors = 0;
});
// The parent went away without saying `exit` (it failed, or was stopped): nothing is left to measure for.
process.once('disconnect', () => {
	process.exit(0);
});
process.send!({ready: true, url});
