/*
npm run demo [-- --requests N] [--json] [--metrics-port 9464]

Shows the race and the fix side by side: the same Redis rate-limit store behind the same Prisma fallback, on top of
three ways of connecting (naive, the "connecting promise" fix, connection-guard).

- Redis: a private redis-server on a free port when one is on PATH; REDIS_URL points it at an existing server instead;
  with neither it runs on ioredis-mock and says so. A TCP proxy in front of it switches Redis "down" for round 2.
- Prisma: a temporary SQLite file; DATABASE_URL=postgres://… uses PostgreSQL.
- --metrics-port P serves Prometheus metrics (examples/observability/prometheus.ts) on http://127.0.0.1:P/metrics while
  the demo runs.
*/
import {spawnSync} from 'node:child_process';
import {once} from 'node:events';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {Redis} from 'ioredis';
import RedisMock from 'ioredis-mock';
import {createGuardMetrics, serveMetrics, type GuardMetrics} from '../observability/prometheus.js';
import {FallbackRateLimitStore, type RateLimitStore} from '../rate-limit/fallback-store.js';
import {createRateLimitPrisma, type RateLimitPrisma} from '../rate-limit/prisma-clients.js';
import {PrismaRateLimitStore} from '../rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../rate-limit/redis-store.js';
import {RedisServer} from '../../__tests__/servers/redis-server.js';
import {TcpProxy} from '../../__tests__/servers/tcp-proxy.js';
import {variants, type DemoClient as RedisClient, type VariantName} from './variants.js';

export type VariantStats = {connectCalls: number; errors: number; fallbacks: number; p50Ms: number; p99Ms: number};
export type DemoResult = {
	coldStart: Record<VariantName, VariantStats>;
	downThenUp: {connectingPromise: {recovered: boolean}; guarded: {recovered: boolean}};
};

const {values: flags} = parseArgs({
	options: {
		requests: {type: 'string', default: '500'},
		json: {type: 'boolean', default: false},
		'metrics-port': {type: 'string'},
		help: {type: 'boolean', default: false},
	},
});

if (flags.help) {
	console.log('Usage: npm run demo -- [--requests N] [--json] [--metrics-port 9464]\n  REDIS_URL=redis://…   use an existing Redis\n  DATABASE_URL=postgres://…   use PostgreSQL for the fallback');
	process.exit(0);
}

const requests = Number(flags.requests);
if (!Number.isInteger(requests) || requests <= 0) {
	console.error(`--requests must be a positive integer, got ${flags.requests}`);
	process.exit(2);
}

const metricsPort = flags['metrics-port'] === undefined ? undefined : Number(flags['metrics-port']);
if (metricsPort !== undefined && (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65_535)) {
	console.error(`--metrics-port must be a port number, got ${flags['metrics-port']}`);
	process.exit(2);
}

let metrics: GuardMetrics | undefined;

/** Progress goes to stderr, so `--json` leaves stdout with exactly one JSON object. */
const progress = (text: string, final = false) => {
	if (process.stderr.isTTY) {
		process.stderr.write(`\r\u001B[2K${text}`);
	} else if (final && text) {
		process.stderr.write(`${text}\n`);
	}
};

const quietLogger = {warn() {}, info() {}};

// --- Redis: a real server behind a switchable proxy, or ioredis-mock ----------------------------------------------

type RedisBackend = {
	description: string;
	createClient(): RedisClient;
	down(): Promise<void>;
	up(): Promise<void>;
	/** Resolves when `client` has reconnected by itself after `up()` (real clients retry; the mock does not). */
	reconnected(client: RedisClient): Promise<void>;
	stop(): Promise<void>;
};

function hasRedisServer(): boolean {
	return spawnSync('redis-server', ['--version'], {stdio: 'ignore'}).status === 0;
}

async function realBackend(): Promise<RedisBackend> {
	let server: RedisServer | undefined;
	let target: {host: string; port: number};
	let auth: {username?: string; password?: string; db?: number} = {};
	let description: string;
	if (process.env.REDIS_URL) {
		const url = new URL(process.env.REDIS_URL);
		target = {host: url.hostname, port: Number(url.port || 6379)};
		auth = {
			username: url.username || undefined,
			password: url.password ? decodeURIComponent(url.password) : undefined,
			db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined,
		};
		description = `Redis at ${target.host}:${target.port} (REDIS_URL)`;
	} else {
		server = await RedisServer.start();
		target = {host: '127.0.0.1', port: server.port};
		description = `a private redis-server on 127.0.0.1:${server.port}`;
	}

	const proxy = new TcpProxy(target);
	await proxy.up();
	const clients: RedisClient[] = [];
	return {
		description,
		createClient() {
			const client = new Redis({
				host: '127.0.0.1',
				port: proxy.port,
				...auth,
				lazyConnect: true,
				// ioredis retries by itself (quickly here); each request still gets an answer from the fallback meanwhile.
				retryStrategy: (times: number) => Math.min(times * 50, 300),
				maxRetriesPerRequest: 1,
				autoResendUnfulfilledCommands: false,
				disconnectTimeout: 100,
			});
			client.on('error', () => undefined);
			clients.push(client);
			return client;
		},
		down: async () => proxy.down(),
		async up() {
			await proxy.up();
		},
		async reconnected(client) {
			if (client.status !== 'ready') {
				await Promise.race([once(client, 'ready'), new Promise(resolve => {
					setTimeout(resolve, 5000).unref();
				})]);
			}
		},
		async stop() {
			for (const client of clients) {
				client.disconnect();
			}

			await proxy.down();
			await server?.stop();
		},
	};
}

/** ioredis-mock, plus a switch that makes connect() fail like a refused port. */
function mockBackend(): RedisBackend {
	let down = false;
	return {
		description: 'ioredis-mock (no redis-server on PATH and no REDIS_URL: install redis-server for the real thing)',
		createClient() {
			const client = new RedisMock({lazyConnect: true});
			const connect = client.connect.bind(client);
			client.connect = async () => {
				if (down) {
					throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379 (simulated)'), {code: 'ECONNREFUSED'});
				}

				return connect();
			};

			return client as unknown as RedisClient;
		},
		async down() {
			down = true;
		},
		async up() {
			down = false;
		},
		async reconnected() {},
		async stop() {},
	};
}

// --- Measuring --------------------------------------------------------------------------------------------------

/** Counts the primary store's failures (each one is a request the app believed Redis was down for). */
function countingStore(store: RateLimitStore): RateLimitStore & {errors: number} {
	const counted = {
		errors: 0,
		prefix: store.prefix,
		async increment(key: string) {
			try {
				return await store.increment(key);
			} catch (error) {
				counted.errors++;
				throw error;
			}
		},
		decrement: async (key: string) => store.decrement(key),
		resetKey: async (key: string) => store.resetKey(key),
	};
	return counted;
}

function countConnects(client: RedisClient): {readonly count: number} {
	const calls = {count: 0};
	const original = client.connect.bind(client);
	client.connect = async () => {
		calls.count++;
		return original();
	};

	return calls;
}

const percentile = (sorted: number[], p: number) =>
	sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const round = (ms: number) => Math.round(ms * 100) / 100;

function stackFor(name: VariantName, client: RedisClient, prisma: RateLimitPrisma, cooldownMs: number) {
	const prefix = `demo:${name}:${process.pid}:${Date.now()}:`;
	const redisStore = countingStore(new RedisRateLimitStore({redis: variants[name](client), windowMs: 60_000, prefix}));
	const prismaStore = new PrismaRateLimitStore({prisma, windowMs: 60_000, prefix});
	const store = new FallbackRateLimitStore(redisStore, prismaStore, {cooldownMs, logger: quietLogger});
	metrics?.observeStore(store);
	return {redisStore, store};
}

async function coldStart(name: VariantName, backend: RedisBackend, prisma: RateLimitPrisma): Promise<VariantStats> {
	const client = backend.createClient();
	const connects = countConnects(client);
	const {redisStore, store} = stackFor(name, client, prisma, 60_000);
	let done = 0;
	const latencies = await Promise.all(Array.from({length: requests}, async (_, index) => {
		const started = performance.now();
		const {decidedBy} = await store.incrementDetailed(`user-${index % 50}`);
		const elapsed = performance.now() - started;
		done++;
		if (done % 50 === 0 || done === requests) {
			progress(`round 1 · ${name}: ${done}/${requests} requests`, done === requests);
		}

		return {elapsed, decidedBy};
	}));
	const sorted = latencies.map(latency => latency.elapsed).sort((a, b) => a - b);
	return {
		connectCalls: connects.count,
		errors: redisStore.errors,
		fallbacks: latencies.filter(latency => latency.decidedBy === 'fallback').length,
		p50Ms: round(percentile(sorted, 50)),
		p99Ms: round(percentile(sorted, 99)),
	};
}

async function downThenUp(
	name: 'connectingPromise' | 'guarded',
	backend: RedisBackend,
	prisma: RateLimitPrisma,
): Promise<{recovered: boolean}> {
	await backend.down();
	const client = backend.createClient();
	// No cooldown: every request tries Redis again, so "still failing" is the variant's doing, not the circuit breaker's.
	const {store} = stackFor(name, client, prisma, 0);
	for (let index = 0; index < 10; index++) {
		// eslint-disable-next-line no-await-in-loop
		await store.incrementDetailed('down');
	}

	progress(`round 2 · ${name}: Redis is back`, true);
	await backend.up();
	await backend.reconnected(client);
	let onRedis = 0;
	for (let index = 0; index < 20; index++) {
		// eslint-disable-next-line no-await-in-loop
		if ((await store.incrementDetailed('up')).decidedBy === 'primary') {
			onRedis++;
		}
	}

	return {recovered: onRedis > 0};
}

// --- Output -----------------------------------------------------------------------------------------------------

function table(result: DemoResult, backend: string, database: string): string {
	const rows = (Object.entries(result.coldStart) as Array<[VariantName, VariantStats]>).map(([name, stats]) =>
		`| ${name.padEnd(17)} | ${String(stats.connectCalls).padStart(15)} | ${String(stats.errors).padStart(6)} | ${String(stats.fallbacks).padStart(16)} | ${stats.p50Ms.toFixed(2).padStart(7)} | ${stats.p99Ms.toFixed(2).padStart(7)} |`);
	const recovered = (value: boolean) => value ? 'yes — back on Redis' : 'no — still failing (stuck on the rejected promise)';
	return [
		'',
		`connection-guard demo · Redis: ${backend} · fallback: Prisma on ${database}`,
		'',
		`Round 1 — cold start: ${requests} concurrent requests on a fresh lazy client, each through the Redis store behind the Prisma fallback`,
		'',
		'| variant           | connect() calls | errors | Prisma fallbacks |  p50 ms |  p99 ms |',
		'|-------------------|----------------:|-------:|-----------------:|--------:|--------:|',
		...rows,
		'',
		'Round 2 — Redis down at start, up a moment later',
		'',
		'| variant           | recovered |',
		'|-------------------|-----------|',
		`| connectingPromise | ${recovered(result.downThenUp.connectingPromise.recovered)} |`,
		`| guarded           | ${recovered(result.downThenUp.guarded.recovered)} |`,
		'',
		'naive: connect() whenever not ready · connectingPromise: the "connecting promise" fix ·'
			+ ' guarded: guardedRedis(client).ensureConnected()',
		'',
	].join('\n');
}

async function main() {
	let metricsServer: Awaited<ReturnType<typeof serveMetrics>>['server'] | undefined;
	if (metricsPort !== undefined) {
		metrics = createGuardMetrics();
		const served = await serveMetrics(metrics.registry, {port: metricsPort});
		metricsServer = served.server;
		// On stderr, so that --json keeps stdout to one object.
		process.stderr.write(`metrics: ${served.url}\n`);
	}

	const realRedis = Boolean(process.env.REDIS_URL) || hasRedisServer();
	const backend = realRedis ? await realBackend() : mockBackend();
	const databaseUrl = process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : undefined;
	const sqliteDir = databaseUrl ? undefined : mkdtempSync(join(tmpdir(), 'connection-guard-demo-'));
	const {prisma, provider} = await createRateLimitPrisma(databaseUrl ?? `file:${join(sqliteDir!, 'rate-limit.db')}`);
	try {
		const coldStartStats = {} as Record<VariantName, VariantStats>;
		for (const name of ['naive', 'connectingPromise', 'guarded'] as const) {
			// eslint-disable-next-line no-await-in-loop
			coldStartStats[name] = await coldStart(name, backend, prisma);
		}

		const result: DemoResult = {
			coldStart: coldStartStats,
			downThenUp: {
				connectingPromise: await downThenUp('connectingPromise', backend, prisma),
				guarded: await downThenUp('guarded', backend, prisma),
			},
		};
		progress('');
		if (flags.json) {
			process.stdout.write(`${JSON.stringify(result)}\n`);
		} else {
			console.log(table(result, backend.description, provider === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : 'a temporary SQLite file'));
		}
	} finally {
		metrics?.close();
		metricsServer?.close();
		await backend.stop();
		await prisma.$disconnect();
		if (sqliteDir) {
			rmSync(sqliteDir, {recursive: true, force: true});
		}
	}
}

await main();
