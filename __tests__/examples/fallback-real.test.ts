import {Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore, type DecidedBy} from '../../examples/rate-limit/fallback-store.js';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../../examples/rate-limit/redis-store.js';
import type {RateLimitPrisma} from '../../examples/rate-limit/prisma-clients.js';
import {RedisServer} from '../servers/redis-server.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';

jest.setTimeout(60_000);

const falling = '[rate-limit] Redis store failed. Falling back to Prisma store for rate limiting.';
const recovered = '[rate-limit] Redis store recovered. Back to Redis store for rate limiting.';

let server: RedisServer;
let prisma: RateLimitPrisma;
let cleanupPrisma: () => Promise<void>;
const clients: Redis[] = [];

beforeAll(async () => {
	server = await RedisServer.start();
	({prisma, cleanup: cleanupPrisma} = await sqlitePrisma());
});

afterAll(async () => {
	for (const client of clients) {
		client.disconnect();
	}

	await server.stop();
	await cleanupPrisma();
});

function stack({cooldownMs = 1000} = {}) {
	// A lazy client with ioredis' default retries (faster here), as an app would have it.
	const client = new Redis({
		port: server.port,
		lazyConnect: true,
		retryStrategy: (times: number) => Math.min(times * 20, 200),
		disconnectTimeout: 100,
	});
	client.on('error', () => undefined);
	clients.push(client);
	const connect = jest.spyOn(client, 'connect');
	const guard = guardedRedis(client);
	const prefix = uniquePrefix('fallback');
	const redisStore = new RedisRateLimitStore({redis: guard, windowMs: 60_000, prefix, timeoutMs: 1000});
	const prismaStore = new PrismaRateLimitStore({prisma, windowMs: 60_000, prefix, cleanupIntervalMs: 0});
	const logger = {warn: jest.fn(), info: jest.fn()};
	let offset = 0;
	const store = new FallbackRateLimitStore(redisStore, prismaStore, {
		cooldownMs, logger, now: () => Date.now() + offset,
	});
	return {
		client, connect, store, logger,
		passCooldown() {
			offset += cooldownMs;
		},
	};
}

/** `count` requests, `concurrency` at a time; `onProgress(done)` runs after each. Every request must be answered. */
async function load(
	store: FallbackRateLimitStore,
	count: number,
	concurrency: number,
	onProgress?: (done: number) => Promise<void> | void,
) {
	const decided: DecidedBy[] = [];
	let next = 0;
	const worker = async () => {
		while (next < count) {
			const index = next++;
			// eslint-disable-next-line no-await-in-loop
			const {decidedBy} = await store.incrementDetailed(`user-${index % 7}`);
			decided.push(decidedBy);
			// eslint-disable-next-line no-await-in-loop
			await onProgress?.(decided.length);
		}
	};

	await Promise.all(Array.from({length: concurrency}, worker));
	return decided;
}

test('cold-start herd through the guarded store: one connect(), zero fallbacks', async () => {
	const {store, connect, logger} = stack();
	const answers = await Promise.all(Array.from({length: 500}, async (_, index) => store.incrementDetailed(`herd-${index % 10}`)));
	expect(answers.filter(answer => answer.decidedBy === 'fallback')).toHaveLength(0);
	expect(connect).toHaveBeenCalledTimes(1);
	expect(logger.warn).not.toHaveBeenCalled();
});

test('Redis killed mid-load: every request is answered (from Prisma), with exactly one "falling back" line; after a restart and the cooldown, back on Redis with one recovery line', async () => {
	const {store, client, logger, passCooldown} = stack();
	let killed: Promise<void> | undefined;
	const decided = await load(store, 400, 16, async done => {
		if (done === 100) {
			killed = server.kill();
			await killed;
		}
	});
	await killed;

	expect(decided).toHaveLength(400);
	expect(decided.slice(0, 90).every(by => by === 'primary')).toBe(true);
	expect(decided.slice(-100).every(by => by === 'fallback')).toBe(true);
	expect(logger.warn).toHaveBeenCalledTimes(1);
	expect(logger.warn).toHaveBeenCalledWith(falling, expect.anything());
	expect(logger.info).not.toHaveBeenCalled();

	// While ioredis is between tries the guard fails fast, so a probe then answers from the fallback at once. ioredis
	// reconnects by itself once the server is back; the first probe after that, past the cooldown, is answered by Redis.
	const readyAgain = new Promise(resolve => {
		client.once('ready', resolve);
	});
	passCooldown();
	expect((await store.incrementDetailed('while-down')).decidedBy).toBe('fallback');
	await server.restart();
	await readyAgain;
	passCooldown();
	expect((await store.incrementDetailed('after-restart')).decidedBy).toBe('primary');
	const after = await load(store, 50, 8);
	expect(after.every(by => by === 'primary')).toBe(true);
	expect(logger.info).toHaveBeenCalledTimes(1);
	expect(logger.info).toHaveBeenCalledWith(recovered);
	expect(logger.warn).toHaveBeenCalledTimes(1);
});

test('a server frozen mid-command: the Redis store rejects by its deadline (guard.run()\'s TIMEOUT), and the fallback answers', async () => {
	const {store, client, logger} = stack();
	await store.increment('before-freeze');
	expect(client.status).toBe('ready');
	server.freeze();
	try {
		const started = performance.now();
		const answer = await store.incrementDetailed('during-freeze');
		expect(answer.decidedBy).toBe('fallback');
		// The store's timeoutMs is 1000 ms, with margin for a loaded machine.
		expect(performance.now() - started).toBeLessThan(2500);
		expect(logger.warn).toHaveBeenCalledWith(falling, expect.objectContaining({name: 'ConnectionGuardError', code: 'TIMEOUT'}));
	} finally {
		server.thaw();
	}
});
