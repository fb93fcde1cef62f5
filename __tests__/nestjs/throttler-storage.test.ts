/*
FallbackThrottlerStorage (examples/nestjs/src/rate-limit/throttler-storage.ts) without HTTP:
- the throttler's semantics, call for call beside @nestjs/throttler's own in-memory ThrottlerStorageService on a fake
  clock (ioredis-mock and the SQLite fallback follow Date.now), on Redis and on the fallback;
- Retry-After / timeToBlockExpire / timeToExpire never above the configured durations and honest (a client that waits
  them out is let through), whatever time the round trips take: properties on a fake clock that moves while stores
  answer;
- concurrency, shutdown and reopening, the deployments (a URL, a Cluster, Sentinel, your own client) and the readiness
  check on real redis-servers.
The HTTP side (the throttler's guard in front of it) is in throttler-http.test.ts.
*/
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import fc from 'fast-check';
import {Cluster, Redis} from 'ioredis';
import RedisMock from 'ioredis-mock';
import {createClient, createCluster} from 'redis';
import {guardedRedis} from 'connection-guard';
import {
	FallbackThrottlerStorage, type FallbackThrottlerStorageOptions, type ThrottlerStorageRecord,
} from '../../examples/nestjs/src/rate-limit/throttler-storage.js';
import type {PrismaRawClient} from '../../examples/rate-limit/prisma-store.js';
import type {RedisConnectionSource} from '../../examples/rate-limit/redis-store.js';
import type {RateLimitPrisma} from '../../examples/rate-limit/prisma-clients.js';
import {cli, freePort, RedisCluster, RedisServer} from '../servers/redis-server.js';
import {RedisSentinelTopology} from '../servers/redis-sentinel.js';
import {deferred, type Deferred} from '../helpers/deferred.js';
import {sqlitePrisma} from '../helpers/stores.js';
import {until} from '../helpers/until.js';

jest.setTimeout(120_000);

type Storage = {
	increment(
		key: string, ttl: number, limit: number, blockDuration: number, name: string,
	): Promise<ThrottlerStorageRecord>;
	onApplicationShutdown(): unknown;
};

// The throttler's own storage, from the app's packages (this project's globalSetup installs them); loaded by path, so
// that the repository's typecheck does not need them.
const {ThrottlerStorageService} = jest.requireActual<{ThrottlerStorageService: new () => Storage}>(
	resolve(__dirname, '../../examples/nestjs/node_modules/@nestjs/throttler/dist/throttler.service.js'),
);

const quiet = () => ({warn: jest.fn(), log: jest.fn()});
let keys = 0;
/** A throttler key no other test uses (ioredis-mock instances and the SQLite file are shared). */
const newKey = () => `key-${process.pid}-${Date.now()}-${++keys}`;

let prisma: RateLimitPrisma;
let cleanupPrisma: () => Promise<void>;
const storages: FallbackThrottlerStorage[] = [];
// One ioredis-mock for every test (each instance adds a listener to a context shared per host:port); keys keep tests
// apart.
const mock: Redis = new RedisMock({autoResendUnfulfilledCommands: false});
mock.on('error', () => undefined);
const redisMock = () => mock;

beforeAll(async () => {
	({prisma, cleanup: cleanupPrisma} = await sqlitePrisma());
});

afterEach(async () => {
	jest.useRealTimers();
	await Promise.all(storages.splice(0).map(async storage => storage.onApplicationShutdown()));
});

afterAll(async () => {
	mock.disconnect();
	await cleanupPrisma();
});

function storageOf(options: Partial<FallbackThrottlerStorageOptions> & Pick<FallbackThrottlerStorageOptions, 'redis'>) {
	const storage = new FallbackThrottlerStorage({database: prisma, logger: quiet(), ...options});
	storages.push(storage);
	return storage;
}

/** Only Date is faked: the stores' deadlines and the clients' timers run as usual. */
function fakeClock(): void {
	jest.useFakeTimers({
		doNotFake: [
			'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval',
			'clearInterval', 'setTimeout', 'clearTimeout',
		],
	});
	jest.setSystemTime(1_800_000_000_000);
}

const advance = (ms: number) => {
	jest.setSystemTime(Date.now() + ms);
};

/** Where the storage counts: Redis (ioredis-mock), or the fallback alone (Redis refuses connections). */
const deployments = {
	'on Redis': async () => ({redis: redisMock()}),
	'on Redis, blocks not remembered (blockedKeys: 0: refused hits reach the stores)': async () => ({redis: redisMock(), blockedKeys: 0}),
	'on the fallback (Redis refused)': async () => ({redis: `redis://127.0.0.1:${await freePort()}`}),
};

type Scenario = {ttl: number; limit: number; blockDuration: number; gaps: number[]; onlyOnRedis?: true};

// Every hit of a window at the same instant, so that the throttler's expiry per hit and a fixed window agree: what is
// compared is the blocking.
const scenarios: Record<string, Scenario> = {
	'ttl 60 s, blockDuration 20 s: refused for 20 s, not 60; the hit when the block ends is let through and counts 1': {
		ttl: 60_000, limit: 2, blockDuration: 20_000, gaps: [0, 0, 0, 10_000, 9999, 1, 0, 0, 0, 19_999, 1], onlyOnRedis: true,
	},
	'ttl 1 s, blockDuration 3 s: the block holds past the window\'s end': {
		ttl: 1000, limit: 2, blockDuration: 3000, gaps: [0, 100, 100, 1300, 1699, 1, 1, 99],
	},
	'blockDuration = ttl (the throttler\'s default)': {
		ttl: 2000, limit: 3, blockDuration: 2000, gaps: [0, 0, 0, 0, 1999, 1, 0],
	},
	'blockDuration 0 (no block): refused until the window ends, Retry-After says when': {
		ttl: 10_000, limit: 2, blockDuration: 0, gaps: [0, 0, 0, 1100, 8899, 1, 0],
	},
	'limit 0 without a block: every hit refused': {
		ttl: 1000, limit: 0, blockDuration: 0, gaps: [0, 500, 499, 1, 0],
	},
};

describe.each(Object.entries(deployments))('the throttler\'s semantics, beside its in-memory storage, %s', (name, deployment) => {
	// On the fallback a block does not clear the count (see the storage's header): tested on its own below.
	const cases = Object.entries(scenarios).filter(([, scenario]) => !(scenario.onlyOnRedis && name.includes('fallback')));
	test.each(cases)('%s', async (_scenario, {ttl, limit, blockDuration, gaps}) => {
		fakeClock();
		const storage = storageOf(await deployment());
		const reference = new ThrottlerStorageService();
		const key = newKey();
		try {
			for (const gap of gaps) {
				advance(gap);
				/* eslint-disable no-await-in-loop -- one hit after the other, on a clock the test moves */
				const ours = await storage.increment(key, ttl, limit, blockDuration, 'default');
				const theirs = await reference.increment(key, ttl, limit, blockDuration, 'default');
				/* eslint-enable no-await-in-loop */
				expect({at: Date.now(), ...decision(ours)}).toEqual({at: Date.now(), ...decision(theirs)});
			}
		} finally {
			reference.onApplicationShutdown();
		}
	});
});

test('on the fallback, a block shorter than what is left of its window holds until the window ends: longer, never more let through', async () => {
	fakeClock();
	const storage = storageOf({redis: `redis://127.0.0.1:${await freePort()}`});
	const key = newKey();
	const hit = async () => storage.increment(key, 60_000, 2, 20_000, 'default');
	expect((await hit()).isBlocked).toBe(false);
	expect((await hit()).isBlocked).toBe(false);
	expect(await hit()).toMatchObject({isBlocked: true, timeToBlockExpire: 20});
	advance(20_000);
	// The block is over, the window (60 s) is not, and it is still over the limit: a new block, never past the window.
	expect(await hit()).toMatchObject({isBlocked: true, timeToBlockExpire: 20});
	advance(40_000);
	expect(await hit()).toMatchObject({isBlocked: false, totalHits: 1});
});

/** What a client sees: let through with a count, or refused with Retry-After. */
const decision = (record: ThrottlerStorageRecord) => record.isBlocked
	? {isBlocked: true, timeToBlockExpire: record.timeToBlockExpire}
	: {isBlocked: false, totalHits: record.totalHits};

test('named throttlers and throttler keys are counted and blocked apart', async () => {
	fakeClock();
	const storage = storageOf({redis: redisMock()});
	const [a, b] = [newKey(), newKey()];
	for (let hit = 0; hit < 3; hit++) {
		// eslint-disable-next-line no-await-in-loop
		await storage.increment(a, 60_000, 2, 20_000, 'short');
	}

	expect((await storage.increment(a, 60_000, 2, 20_000, 'short')).isBlocked).toBe(true);
	// The same key under another throttler (a custom generateKey may leave the name out), and another key.
	expect(await storage.increment(a, 60_000, 2, 20_000, 'long')).toMatchObject({isBlocked: false, totalHits: 1});
	expect(await storage.increment(b, 60_000, 2, 20_000, 'short')).toMatchObject({isBlocked: false, totalHits: 1});
});

describe('Retry-After (timeToBlockExpire) and X-RateLimit-Reset (timeToExpire), on a clock that moves while the stores answer', () => {
	test('the old bug: 999 ms pass before the block is recorded; Retry-After stays 10 for a 10 s block, never 11', async () => {
		fakeClock();
		const guard = guardedRedis(mock);
		let calls = 0;
		// The third operation is the block's increment, sent after the hit's answer: the round trip takes 999 ms.
		const slowSecondTrip: RedisConnectionSource = {
			client: mock,
			ensureConnected: async options => guard.ensureConnected(options),
			async run(fn, options) {
				if (++calls === 3) {
					advance(999);
				}

				return guard.run(fn, options);
			},
		};
		const storage = storageOf({redis: slowSecondTrip});
		const key = newKey();
		await storage.increment(key, 10_000, 1, 10_000, 'default');
		calls = 0;
		expect(await storage.increment(key, 10_000, 1, 10_000, 'default')).toMatchObject({isBlocked: true, timeToBlockExpire: 10});
	});

	// Random hits, gaps and round-trip times; each answer is checked against the durations and against the clock.
	const delays = fc.array(fc.nat(1500), {minLength: 6, maxLength: 6});
	const hits = fc.array(fc.record({gap: fc.nat(4000), delays}), {minLength: 1, maxLength: 12});
	const throttler = fc.record({
		ttl: fc.integer({min: 1, max: 20}).map(seconds => seconds * 500),
		blockDuration: fc.integer({min: 1, max: 20}).map(seconds => seconds * 500),
		limit: fc.integer({min: 1, max: 3}),
	});

	/**
	One life of the property: hits as drawn, then wait out the last Retry-After and hit again. `onFallback`: a block
	there does not clear the count (the storage's header), so the client may be blocked anew while its window is open.
	*/
	async function check(
		storage: FallbackThrottlerStorage, key: string,
		{ttl, blockDuration, limit}: {ttl: number; blockDuration: number; limit: number},
		drawn: Array<{gap: number; delays: number[]}>, setDelays: (delays: number[]) => void, onFallback = false,
	): Promise<void> {
		let last: ThrottlerStorageRecord | undefined;
		for (const {gap, delays} of drawn) {
			advance(gap);
			setDelays(delays);
			// eslint-disable-next-line no-await-in-loop
			last = await storage.increment(key, ttl, limit, blockDuration, 'default');
			expect(last.timeToExpire).toBeLessThanOrEqual(Math.ceil(ttl / 1000));
			expect(last.timeToExpire).toBeGreaterThanOrEqual(0);
			if (last.isBlocked) {
				expect(last.timeToBlockExpire).toBeLessThanOrEqual(Math.ceil(blockDuration / 1000));
				expect(last.timeToBlockExpire).toBeGreaterThanOrEqual(1);
			} else {
				expect(last.totalHits).toBeLessThanOrEqual(limit);
			}
		}

		if (last?.isBlocked) {
			// A client that waits Retry-After from the answer it got finds the block over, however slow the stores are.
			advance(last.timeToBlockExpire * 1000);
			setDelays([0, 0, 0, 0, 0, 0]);
			let next = await storage.increment(key, ttl, limit, blockDuration, 'default');
			if (onFallback && next.isBlocked) {
				// A new block, within the durations; the window began before the last answer: over after one more `ttl`.
				expect(next.timeToBlockExpire).toBeLessThanOrEqual(Math.ceil(blockDuration / 1000));
				advance(Math.max(ttl, blockDuration));
				next = await storage.increment(key, ttl, limit, blockDuration, 'default');
			}

			expect(next).toMatchObject({isBlocked: false, totalHits: 1});
		}
	}

	test('on Redis: never above the configured durations, and a client that waits Retry-After is let through', async () => {
		fakeClock();
		const guard = guardedRedis(mock);
		let delays: number[] = [];
		// Time passes before each command reaches Redis (a slow network, a busy event loop).
		const slow: RedisConnectionSource = {
			client: mock,
			ensureConnected: async options => guard.ensureConnected(options),
			async run(fn, options) {
				advance(delays.shift() ?? 0);
				return guard.run(fn, options);
			},
		};
		await fc.assert(fc.asyncProperty(throttler, hits, async (settings, drawn) => {
			const storage = storageOf({redis: slow});
			await check(storage, newKey(), settings, drawn, next => {
				delays = [...next];
			});
			await storage.onApplicationShutdown();
		}), {numRuns: 60});
	});

	test('on the fallback: the same, with time passing before and after each query (the database\'s clock writes the windows)', async () => {
		fakeClock();
		let delays: number[] = [];
		const slowPrisma: PrismaRawClient = {
			async $queryRaw<T>(query: TemplateStringsArray, ...values: unknown[]) {
				advance(delays.shift() ?? 0);
				const rows = await prisma.$queryRaw<T>(query, ...values);
				advance(delays.shift() ?? 0);
				return rows;
			},
			async $executeRaw(query: TemplateStringsArray, ...values: unknown[]) {
				advance(delays.shift() ?? 0);
				const count = await prisma.$executeRaw(query, ...values);
				advance(delays.shift() ?? 0);
				return count;
			},
			$executeRawUnsafe: async (query: string, ...values: unknown[]) => prisma.$executeRawUnsafe(query, ...values),
		};
		const redis = `redis://127.0.0.1:${await freePort()}`;
		await fc.assert(fc.asyncProperty(throttler, hits, async (settings, drawn) => {
			const storage = storageOf({redis, database: slowPrisma});
			await check(storage, newKey(), settings, drawn, next => {
				delays = [...next];
			}, true);
			await storage.onApplicationShutdown();
		}), {numRuns: 60});
	});

	describe.each(['sliding-window', 'token-bucket'] as const)('algorithm: %s', algorithm => {
		test('on Redis, with blocks: never above the configured durations, and a client that waits Retry-After is let through', async () => {
			fakeClock();
			const guard = guardedRedis(mock);
			let delays: number[] = [];
			const slow: RedisConnectionSource = {
				client: mock,
				ensureConnected: async options => guard.ensureConnected(options),
				async run(fn, options) {
					advance(delays.shift() ?? 0);
					return guard.run(fn, options);
				},
			};
			await fc.assert(fc.asyncProperty(throttler, hits, async (settings, drawn) => {
				const storage = storageOf({redis: slow, algorithm});
				await check(storage, newKey(), settings, drawn, next => {
					delays = [...next];
				});
				await storage.onApplicationShutdown();
			}), {numRuns: 40});
		});

		test('no block (blockDuration 0): refused until the store admits a hit again; waiting timeToBlockExpire is enough, and never more than `limit` per `ttl` pass at once', async () => {
			fakeClock();
			const gaps = fc.array(fc.nat(3000), {maxLength: 12});
			await fc.assert(fc.asyncProperty(throttler, gaps, async ({ttl, limit}, drawn) => {
				const storage = storageOf({redis: redisMock(), algorithm});
				const key = newKey();
				for (const gap of drawn) {
					advance(gap);
					// eslint-disable-next-line no-await-in-loop
					await storage.increment(key, ttl, limit, 0, 'default');
				}

				// A burst at one instant: at most `limit` let through, then refused.
				const burst = [];
				for (let index = 0; index <= limit; index++) {
					// eslint-disable-next-line no-await-in-loop
					burst.push(await storage.increment(key, ttl, limit, 0, 'default'));
				}

				expect(burst.filter(record => !record.isBlocked).length).toBeLessThanOrEqual(limit);
				const refused = burst.at(-1)!;
				expect(refused.isBlocked).toBe(true);
				expect(refused.timeToBlockExpire).toBeGreaterThanOrEqual(1);
				expect(refused.timeToBlockExpire).toBeLessThanOrEqual(Math.ceil((algorithm === 'sliding-window' ? 2 * ttl : ttl) / 1000));
				advance(refused.timeToBlockExpire * 1000);
				await expect(storage.increment(key, ttl, limit, 0, 'default')).resolves.toMatchObject({isBlocked: false});
				await storage.onApplicationShutdown();
			}), {numRuns: 40});
		});
	});
});

test('Redis failing during the calls, a hit counted before the one that started a block is let through though the fallback\'s database read the block after it (queries run in either order there)', async () => {
	const redis = `redis://127.0.0.1:${await freePort()}`;
	const held: Array<Deferred<void>> = [];
	let holding = true;
	// The first five reads of the block are held until the sixth hit has started the block.
	const slowReads: PrismaRawClient = {
		async $queryRaw<T>(query: TemplateStringsArray, ...values: unknown[]) {
			if (holding && query.join('').includes('SELECT "hits"') && String(values[0]).includes(':block:') && held.length < 5) {
				const gate = deferred();
				held.push(gate);
				await gate.promise;
			}

			return prisma.$queryRaw<T>(query, ...values);
		},
		$executeRaw: async (query: TemplateStringsArray, ...values: unknown[]) => prisma.$executeRaw(query, ...values),
		$executeRawUnsafe: async (query: string, ...values: unknown[]) => prisma.$executeRawUnsafe(query, ...values),
	};
	const storage = storageOf({redis, database: slowReads});
	const key = newKey();
	const first = Array.from({length: 5}, async () => storage.increment(key, 60_000, 5, 20_000, 'default'));
	await until(() => held.length === 5);
	// Counted sixth: over the limit, so it blocks the key.
	expect(await storage.increment(key, 60_000, 5, 20_000, 'default')).toMatchObject({isBlocked: true, timeToBlockExpire: 20});
	holding = false;
	for (const gate of held) {
		gate.resolve();
	}

	expect((await Promise.all(first)).map(record => record.isBlocked)).toEqual([false, false, false, false, false]);
	// Later hits are refused.
	expect(await storage.increment(key, 60_000, 5, 20_000, 'default')).toMatchObject({isBlocked: true});
});

describe('bad input is refused with an error naming it', () => {
	test('an algorithm it does not know is refused, naming `algorithm`', () => {
		expect(() => new FallbackThrottlerStorage({redis: redisMock(), database: prisma, algorithm: 'leaky' as never})).toThrow(/`algorithm`/);
	});

	test.each([
		[{redis: ''}, RangeError, /`redis`/],
		[{redis: 42}, TypeError, /`redis`/],
		[{redis: {}}, TypeError, /`client`/],
		[{database: 7}, TypeError, /`database`/],
		[{database: ''}, RangeError, /`database`/],
		[{timeoutMs: 0}, RangeError, /`timeoutMs`/],
		[{cooldownMs: -1}, RangeError, /`cooldownMs`/],
		[{blockedKeys: 1.5}, RangeError, /`blockedKeys`/],
		[{prefix: ''}, TypeError, /`prefix`/],
		[{logger: {warn() {}}}, TypeError, /`logger`/],
		[{timeout: 1000}, TypeError, /`timeout`/],
	])('new FallbackThrottlerStorage(%p)', (options, ErrorType, message) => {
		const create = () => new FallbackThrottlerStorage({redis: 'redis://127.0.0.1:6390', database: prisma, ...options} as never);
		expect(create).toThrow(ErrorType);
		expect(create).toThrow(message);
	});

	test.each([
		[['', 1000, 1, 1000, 'default'], TypeError, /`key`/],
		[['k', 0, 1, 1000, 'default'], RangeError, /`ttl`/],
		[['k', 1.5, 1, 1000, 'default'], RangeError, /`ttl`/],
		[['k', 1000, -1, 1000, 'default'], RangeError, /`limit`/],
		[['k', 1000, 1, Number.NaN, 'default'], RangeError, /`blockDuration`/],
		[['k', 1000, 1, 1000, undefined], TypeError, /`throttlerName`/],
	])('increment(...%p)', async (arguments_, ErrorType, message) => {
		const storage = storageOf({redis: redisMock()});
		const call = storage.increment(...arguments_ as Parameters<FallbackThrottlerStorage['increment']>);
		await expect(call).rejects.toThrow(ErrorType);
		await expect(call).rejects.toThrow(message);
	});
});

describe('on a real redis-server', () => {
	let server: RedisServer;
	beforeAll(async () => {
		server = await RedisServer.start();
	});
	afterAll(async () => {
		await server?.stop();
	});

	const connectedClients = async () => Number(/connected_clients:(\d+)/.exec(await cli(server.port, 'INFO', 'clients'))![1]);
	const commandsRun = async () => [...(await cli(server.port, 'INFO', 'commandstats')).matchAll(/calls=(\d+)/g)]
		.reduce((sum, [, calls]) => sum + Number(calls), 0);

	test('a herd of 200 on one key: exactly `limit` let through, in one process on one connection', async () => {
		const storage = storageOf({redis: server.url});
		const key = newKey();
		const records = await Promise.all(Array.from({length: 200}, async () => storage.increment(key, 60_000, 10, 30_000, 'default')));
		expect(records.filter(record => !record.isBlocked)).toHaveLength(10);
		expect(Math.max(...records.map(record => record.timeToBlockExpire))).toBeLessThanOrEqual(30);
		expect(await connectedClients()).toBe(2);
	});

	test('a blocked key costs no Redis command in the process that saw the block, until it ends; blockedKeys bounds that memory', async () => {
		const storage = storageOf({redis: server.url, blockedKeys: 1});
		const [a, b] = [newKey(), newKey()];
		for (const key of [a, b, a, b]) {
			// eslint-disable-next-line no-await-in-loop
			await storage.increment(key, 60_000, 1, 30_000, 'default');
		}

		// Both blocked; only b is remembered (blockedKeys: 1, a went first).
		let before = await commandsRun();
		expect(await storage.increment(b, 60_000, 1, 30_000, 'default')).toMatchObject({isBlocked: true});
		// The INFO call itself is one command.
		expect(await commandsRun() - before).toBe(1);
		before = await commandsRun();
		expect(await storage.increment(a, 60_000, 1, 30_000, 'default')).toMatchObject({isBlocked: true});
		// The block read and the hit counted (two scripts), then the hit taken back: a refused hit is not counted.
		await storage.onApplicationShutdown();
		expect(await commandsRun() - before).toBeGreaterThanOrEqual(4);
		expect(await cli(server.port, 'GET', `rl:nest:hits:60000:{${a}:default}`)).toBe('0');
	});

	test('reopens after onApplicationShutdown(): closes the client it made, then makes a new one on the next call', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'connection-guard-nest-'));
		const logger = quiet();
		const storage = storageOf({redis: server.url, database: `file:${join(dir, 'rate-limit.db')}`, logger});
		try {
			const key = newKey();
			expect(await storage.increment(key, 60_000, 5, 60_000, 'default')).toMatchObject({totalHits: 1});
			expect(await storage.health()).toEqual({redis: 'up', database: 'up'});
			expect(await connectedClients()).toBe(2);
			await storage.onApplicationShutdown();
			expect(await connectedClients()).toBe(1);
			// A second app using the same storage: Redis counts on (the same window), on a new connection.
			expect(await storage.increment(key, 60_000, 5, 60_000, 'default')).toMatchObject({isBlocked: false, totalHits: 2});
			expect(await connectedClients()).toBe(2);
			expect(await storage.health()).toEqual({redis: 'up', database: 'up'});
			await storage.onApplicationShutdown();
			expect(await connectedClients()).toBe(1);
			expect(logger.warn).not.toHaveBeenCalled();
		} finally {
			rmSync(dir, {recursive: true, force: true});
		}
	});

	test('your own client (or guard) is used as it is and left open on shutdown', async () => {
		const client = new Redis(server.url, {lazyConnect: true, autoResendUnfulfilledCommands: false});
		client.on('error', () => undefined);
		try {
			for (const redis of [client, guardedRedis(client)]) {
				const storage = storageOf({redis});
				// eslint-disable-next-line no-await-in-loop
				expect(await storage.increment(newKey(), 60_000, 5, 60_000, 'default')).toMatchObject({totalHits: 1});
				// eslint-disable-next-line no-await-in-loop
				await storage.onApplicationShutdown();
				expect(client.status).toBe('ready');
				// eslint-disable-next-line no-await-in-loop
				expect(await storage.increment(newKey(), 60_000, 5, 60_000, 'default')).toMatchObject({totalHits: 1});
			}
		} finally {
			client.disconnect();
		}
	});

	test('readiness: a frozen Redis is down within timeoutMs (it keeps its connection); a dead one is down at once', async () => {
		const own = await RedisServer.start();
		const storage = storageOf({redis: own.url, timeoutMs: 300});
		try {
			expect(await storage.health()).toEqual({redis: 'up', database: 'up'});
			own.freeze();
			const started = performance.now();
			expect(await storage.health()).toEqual({redis: 'down', database: 'up'});
			expect(performance.now() - started).toBeLessThan(2000);
			own.thaw();
			await own.kill();
			expect(await storage.health()).toEqual({redis: 'down', database: 'up'});
		} finally {
			await own.stop();
		}
	});

	test('a database that does not open: Redis still decides, readiness says which is down, and the open is tried again later', async () => {
		const logger = quiet();
		const storage = storageOf({redis: server.url, database: `postgresql://postgres@127.0.0.1:${await freePort()}/test`, logger});
		expect(await storage.increment(newKey(), 60_000, 5, 60_000, 'default')).toMatchObject({isBlocked: false, totalHits: 1});
		expect(await storage.health()).toEqual({redis: 'up', database: 'down'});
		expect(await storage.health()).toEqual({redis: 'up', database: 'down'});
		// One line for the failing open, however many tries.
		expect(logger.warn).toHaveBeenCalledTimes(1);
		expect(logger.warn.mock.calls[0]![0]).toMatch(/fallback database did not open/);
	});
});

describe('the deployments the guard supports', () => {
	test('a Redis Cluster, as an ioredis `Cluster` of yours or made by a function: the limit holds, a key\'s hits and block on one node', async () => {
		const cluster = await RedisCluster.start(3);
		const options = {lazyConnect: true, redisOptions: {maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false}};
		const yours = new Cluster(cluster.startupNodes, options);
		yours.on('error', () => undefined);
		try {
			for (const redis of [yours, () => new Cluster(cluster.startupNodes, options)]) {
				const storage = storageOf({redis});
				const key = newKey();
				// eslint-disable-next-line no-await-in-loop
				const records = await Promise.all(Array.from({length: 30}, async () => storage.increment(key, 60_000, 5, 30_000, 'default')));
				expect(records.filter(record => !record.isBlocked)).toHaveLength(5);
				const id = `{${key}:default}`;
				// eslint-disable-next-line no-await-in-loop
				const node = await cluster.masterOf(id);
				// eslint-disable-next-line no-await-in-loop
				expect(Number(await cli(node.port, 'EXISTS', `rl:nest:block:30000:${id}`))).toBe(1);
				// eslint-disable-next-line no-await-in-loop
				expect(await cli(node.port, 'CLUSTER', 'KEYSLOT', `rl:nest:hits:60000:${id}`)).toBe(await cli(node.port, 'CLUSTER', 'KEYSLOT', `rl:nest:block:30000:${id}`));
				// A new life after shutdown (a new Cluster client from the function; yours again).
				// eslint-disable-next-line no-await-in-loop
				await storage.onApplicationShutdown();
				// eslint-disable-next-line no-await-in-loop
				expect(await storage.increment(key, 60_000, 5, 30_000, 'default')).toMatchObject({isBlocked: true});
				// eslint-disable-next-line no-await-in-loop
				expect(await storage.health()).toEqual({redis: 'up', database: 'up'});
			}
		} finally {
			await Promise.all(storages.splice(0).map(async storage => storage.onApplicationShutdown()));
			yours.disconnect();
			await cluster.stop();
		}
	});

	test('node-redis (`redis` 6) clients and clusters, made by a function: the limit holds, and a new life after shutdown', async () => {
		const [server, cluster] = await Promise.all([RedisServer.start(), RedisCluster.start(3)]);
		const makers = [
			() => createClient({url: server.url}),
			() => createCluster({rootNodes: cluster.startupNodes.map(node => ({url: `redis://${node.host}:${node.port}`}))}),
		];
		try {
			for (const redis of makers) {
				const logger = quiet();
				const storage = storageOf({redis, logger});
				const key = newKey();
				// eslint-disable-next-line no-await-in-loop
				const records = await Promise.all(Array.from({length: 20}, async () => storage.increment(key, 60_000, 4, 30_000, 'default')));
				expect(records.filter(record => !record.isBlocked)).toHaveLength(4);
				// eslint-disable-next-line no-await-in-loop
				expect(await storage.health()).toEqual({redis: 'up', database: 'up'});
				// eslint-disable-next-line no-await-in-loop
				await storage.onApplicationShutdown();
				// eslint-disable-next-line no-await-in-loop
				expect(await storage.increment(key, 60_000, 4, 30_000, 'default')).toMatchObject({isBlocked: true});
				expect(logger.warn).not.toHaveBeenCalled();
			}
		} finally {
			await Promise.all(storages.splice(0).map(async storage => storage.onApplicationShutdown()));
			await Promise.all([server.stop(), cluster.stop()]);
		}
	});

	test('a Sentinel configuration: the storage asks the Sentinels for the master, and closes its client on shutdown', async () => {
		const topology = await RedisSentinelTopology.start();
		try {
			const storage = storageOf({redis: {sentinels: topology.sentinelNodes, name: topology.name}});
			const key = newKey();
			const records = await Promise.all(Array.from({length: 20}, async () => storage.increment(key, 60_000, 4, 30_000, 'default')));
			expect(records.filter(record => !record.isBlocked)).toHaveLength(4);
			expect(Number(await cli(await topology.masterPort(), 'EXISTS', `rl:nest:block:30000:{${key}:default}`))).toBe(1);
			expect(await storage.health()).toEqual({redis: 'up', database: 'up'});
			await storage.onApplicationShutdown();
			expect(await storage.increment(key, 60_000, 4, 30_000, 'default')).toMatchObject({isBlocked: true});
		} finally {
			await Promise.all(storages.splice(0).map(async storage => storage.onApplicationShutdown()));
			await topology.stop();
		}
	});
});
