/*
`npm run bench -- --section algorithms`: what each counting rule (examples/rate-limit/algorithms.ts) costs beside the
fixed window, at store level, on the private redis-server of bench.ts and on the Prisma fallback (SQLite), with
rate-limiter-flexible's nearest equivalents beside them on the same Redis:

- fixed window: RateLimiterRedis (one fixed window per key);
- sliding window: rate-limiter-flexible has none (its docs point to RateLimiterUnion of limiters, which is not a sliding
  window), so no peer row;
- token bucket: BurstyRateLimiter (a RateLimiterRedis at the refill rate plus a burst limiter: two Redis calls per hit
  when the first is used up), the shape its wiki offers for bursts.

@upstash/ratelimit has all three algorithms but its Redis client speaks Upstash's REST API over HTTP only, with no
adapter for a local redis-server here (and no new dependency is added to bring one): it is not measured.

Each row: increments of 1,000 keys (none refused: the limit is far above what a round sends, so every hit is a full
script run), concurrency 64, rounds interleaved across rows, the median ops/s. Redis commands per hit are counted by the
server (INFO commandstats) over one extra round per row.
*/
import {performance} from 'node:perf_hooks';
import type {Redis} from 'ioredis';
import {BurstyRateLimiter, RateLimiterRedis} from 'rate-limiter-flexible';
import {guardedRedis} from 'connection-guard';
import type {Algorithm} from '../examples/rate-limit/algorithms.js';
import type {RateLimitPrisma} from '../examples/rate-limit/prisma-clients.js';
import {PrismaRateLimitStore} from '../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../examples/rate-limit/redis-store.js';
import {cli} from '../__tests__/servers/redis-server.js';

export type AlgorithmsRow = {
	name: string;
	algorithm: Algorithm;
	store: 'redis' | 'prisma' | 'peer';
	opsPerSecond: number;
	/** Against the same store's fixed window (rate-limiter-flexible: against our Redis fixed window). */
	vsFixedWindow: number;
	/** Redis commands the server ran per hit (scripts count their calls inside). */
	redisCommandsPerHit?: number;
};

export type AlgorithmsResult = {concurrency: number; rounds: number; roundMs: number; rows: AlgorithmsRow[]};

type Options = {
	client: Redis;
	port: number;
	prisma: RateLimitPrisma;
	quick: boolean;
	progress(text: string): void;
	median(values: number[]): number;
};

const concurrency = 64;
const limit = 1_000_000;
const windowMs = 60_000;
const algorithmsList: Algorithm[] = ['fixed-window', 'sliding-window', 'token-bucket'];

type Operation = {
	name: string;
	algorithm: Algorithm;
	store: AlgorithmsRow['store'];
	run(key: string): Promise<unknown>;
};

export async function algorithmsBench(
	{client, port, prisma, quick, progress, median}: Options,
): Promise<AlgorithmsResult> {
	const roundMs = quick ? 300 : 1000;
	const rounds = quick ? 3 : 7;
	const redis = guardedRedis(client);
	// The Redis rows together and the SQLite rows together: a row right after a SQLite one pays for the garbage it left
	// (a first run had the token bucket, listed after the SQLite sliding window, at a third of its real rate).
	const operations: Operation[] = [];
	const prismaOperations: Operation[] = [];
	for (const algorithm of algorithmsList) {
		const prefix = `bench:alg:${algorithm}:`;
		const redisStore = new RedisRateLimitStore({redis, windowMs, limit, prefix, algorithm});
		const prismaStore = new PrismaRateLimitStore({prisma, windowMs, limit, prefix, algorithm, cleanupIntervalMs: 0});
		operations.push({name: `RedisRateLimitStore, ${algorithm}`, algorithm, store: 'redis', run: async key => redisStore.increment(key)});
		prismaOperations.push({
			name: `PrismaRateLimitStore (SQLite), ${algorithm}`, algorithm, store: 'prisma', run: async key => prismaStore.increment(key),
		});
	}

	const fixed = new RateLimiterRedis({storeClient: client, points: limit, duration: windowMs / 1000, keyPrefix: 'bench:alg:rlf'});
	const bursty = new BurstyRateLimiter(
		new RateLimiterRedis({storeClient: client, points: limit, duration: windowMs / 1000, keyPrefix: 'bench:alg:rlf-rate'}),
		new RateLimiterRedis({storeClient: client, points: limit, duration: windowMs / 1000, keyPrefix: 'bench:alg:rlf-burst'}),
	);
	operations.push(
		{name: 'rate-limiter-flexible RateLimiterRedis (fixed window)', algorithm: 'fixed-window', store: 'peer', run: async key => fixed.consume(key)},
		{name: 'rate-limiter-flexible BurstyRateLimiter (token-bucket-like)', algorithm: 'token-bucket', store: 'peer', run: async key => bursty.consume(key)},
		...prismaOperations,
	);

	async function runRound(operation: Operation): Promise<{opsPerSecond: number; ops: number}> {
		let ops = 0;
		const endAt = performance.now() + roundMs;
		const worker = async (id: number) => {
			let index = id;
			while (performance.now() < endAt) {
				// eslint-disable-next-line no-await-in-loop
				await operation.run(`k${index % 1000}`);
				ops++;
				index += concurrency;
			}
		};

		const started = performance.now();
		await Promise.all(Array.from({length: concurrency}, async (_, id) => worker(id)));
		return {opsPerSecond: ops / ((performance.now() - started) / 1000), ops};
	}

	// Warm-up: scripts loaded, JIT, the table's rows made.
	for (const operation of operations) {
		// eslint-disable-next-line no-await-in-loop
		await Promise.all(Array.from({length: 1000}, async (_, index) => operation.run(`k${index}`)));
	}

	const samples = new Map<string, number[]>(operations.map(operation => [operation.name, []]));
	for (let round = 0; round < rounds; round++) {
		const order = [...operations.slice(round % operations.length), ...operations.slice(0, round % operations.length)];
		for (const operation of order) {
			// A full collection before each row: none pays for the one before it.
			globalThis.gc?.();
			progress(`algorithms: round ${round + 1}/${rounds} · ${operation.name}`);
			// eslint-disable-next-line no-await-in-loop
			samples.get(operation.name)!.push((await runRound(operation)).opsPerSecond);
		}
	}

	// Redis commands per hit, from the server's own count over one more round of each Redis row.
	const commands = new Map<string, number>();
	for (const operation of operations.filter(each => each.store !== 'prisma')) {
		progress(`algorithms: counting Redis commands · ${operation.name}`);
		// eslint-disable-next-line no-await-in-loop
		await cli(port, 'CONFIG', 'RESETSTAT');
		// eslint-disable-next-line no-await-in-loop
		const {ops} = await runRound(operation);
		// eslint-disable-next-line no-await-in-loop
		const stats = await cli(port, 'INFO', 'commandstats');
		// The calls made by scripts are counted under their own names; EVALSHA/EVAL is the script itself.
		const calls = [...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)]
			.filter(([, name]) => !['info', 'config', 'evalsha', 'eval'].includes(name!))
			.reduce((sum, [, , count]) => sum + Number(count), 0);
		commands.set(operation.name, calls / ops);
	}

	const ops = new Map([...samples].map(([name, values]) => [name, median(values)]));
	const fixedOf = (store: AlgorithmsRow['store']) =>
		ops.get(operations.find(each => each.algorithm === 'fixed-window' && each.store === (store === 'peer' ? 'redis' : store))!.name)!;
	const rows = operations.map(({name, algorithm, store}): AlgorithmsRow => ({
		name,
		algorithm,
		store,
		opsPerSecond: Math.round(ops.get(name)!),
		vsFixedWindow: Math.round((ops.get(name)! / fixedOf(store)) * 1000) / 1000,
		...commands.has(name) && {redisCommandsPerHit: Math.round(commands.get(name)! * 100) / 100},
	}));
	return {concurrency, rounds, roundMs, rows};
}

export function algorithmsMarkdown({concurrency, rounds, roundMs, rows}: AlgorithmsResult): string[] {
	return [
		'## Algorithms: each beside the fixed window, at store level',
		'',
		`Increments over 1,000 keys, none refused, concurrency ${concurrency}, median of ${rounds} interleaved rounds of ${roundMs} ms. `
		+ '"× fixed": ops/s against the same store\'s fixed window (rate-limiter-flexible: against our Redis store\'s). '
		+ 'rate-limiter-flexible has no sliding window; @upstash/ratelimit speaks HTTP to Upstash only (not measured).',
		'',
		'| row | ops/s | × fixed | Redis commands per hit |',
		'|---|---:|---:|---:|',
		...rows.map(row => `| ${row.name} | ${row.opsPerSecond.toLocaleString('en-US')} | ${row.vsFixedWindow} | ${row.redisCommandsPerHit ?? '–'} |`),
	];
}
