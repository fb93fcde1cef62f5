/*
Issue 29: every store keeps express-rate-limit's `Store` contract as its own MemoryStore does — the same calls, the
same results — under jest's fake timers (ioredis-mock, SQLite through Prisma) and in real time on a private
redis-server (ioredis, node-redis 6 and 5), and through express-rate-limit itself over HTTP (headers, validations).
*/
import express from 'express';
import {MemoryStore, rateLimit, type Store} from 'express-rate-limit';
import {Redis} from 'ioredis';
import RedisMock from 'ioredis-mock';
import {createClient} from 'redis';
import {createClient as createClient5} from 'redis5';
import request from 'supertest';
import {guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore, type CircuitEvent} from '../../examples/rate-limit/fallback-store.js';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore, type RedisClient} from '../../examples/rate-limit/redis-store.js';
import type {RateLimitPrisma} from '../../examples/rate-limit/prisma-clients.js';
import {RedisServer} from '../servers/redis-server.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';
import {
	eachTestOn, Lockstep, memoryStoreParity, middlewareOptions, opening,
	type ParityTarget, type StoreSettings,
} from './memory-store-parity.js';

jest.setTimeout(20_000);

// The middleware's options replace this through init(): a store still on it would show as a wrong resetTime.
const constructorWindowMs = 3_600_000;
const quiet = {warn() {}, info() {}};
// Real time: long enough for a test's calls within one window on a busy 2-core machine, short enough to wait out.
const realWindowMs = 500;

/** A private redis-server for the real-time targets (never the shared one on 6379). */
let server: RedisServer;
beforeAll(async () => {
	server = await RedisServer.start();
});

afterAll(async () => {
	await server.stop();
});

/** A Prisma client on its own SQLite file, opened by a target's setup(). */
function sqlite() {
	let database: {prisma: RateLimitPrisma; cleanup(): Promise<void>} | undefined;
	// Shut down before the database goes: their sweeps (every 60 s, unref'd) would run on into later test files.
	const stores: PrismaRateLimitStore[] = [];
	return {
		get prisma() {
			return database!.prisma;
		},
		async open() {
			database = await sqlitePrisma();
		},
		async close() {
			await Promise.all(stores.splice(0).map(async store => store.shutdown()));
			await database?.cleanup();
		},
		/** The Prisma store as users configure it: its default clock (Date.now, so fake timers move it) and sweep. */
		store(settings: StoreSettings = {}) {
			const store = new PrismaRateLimitStore({
				prisma: database!.prisma, windowMs: constructorWindowMs, ...settings, prefix: settings.prefix ?? uniquePrefix('parity'),
			});
			stores.push(store);
			return store;
		},
	};
}

type ClientFactory = () => RedisClient;

/** A Redis client (mock or real) opened by a target's setup(), closed through its guard by teardown(). */
function redis(createClient_: ClientFactory) {
	let client: RedisClient | undefined;
	return {
		get client() {
			return client!;
		},
		async open() {
			client = createClient_();
			client.on('error', () => undefined);
		},
		async close() {
			if (client) {
				await guardedRedis(client).close();
			}
		},
		store(settings: StoreSettings = {}) {
			return new RedisRateLimitStore({
				redis: client!, windowMs: constructorWindowMs, ...settings, prefix: settings.prefix ?? uniquePrefix('parity'),
			});
		},
	};
}

// ioredis-mock, as users' own unit tests have it: its keys expire on Date.now(), which fake timers move.
const mockClient: ClientFactory = () => new RedisMock({autoResendUnfulfilledCommands: false});
const ioredisClient: ClientFactory = () => new Redis({
	port: server.port, lazyConnect: true, autoResendUnfulfilledCommands: false,
});
const nodeRedis6Client: ClientFactory = () => createClient({socket: {port: server.port}});
const nodeRedis5Client: ClientFactory = () => createClient5({socket: {port: server.port}}) as unknown as RedisClient;

function redisTarget(name: string, time: ParityTarget['time'], createClient_: ClientFactory): ParityTarget {
	const connection = redis(createClient_);
	return {
		name,
		time,
		windowMs: time === 'fake' ? 1000 : realWindowMs,
		setup: connection.open,
		teardown: connection.close,
		create: settings => connection.store(settings),
	};
}

function prismaTarget(name: string): ParityTarget {
	const database = sqlite();
	return {
		name, time: 'fake', windowMs: 1000, setup: database.open, teardown: database.close, create: settings => database.store(settings),
	};
}

/** The fallback store over Redis and SQLite; the circuit must stay closed (Redis decides) all along. */
function fallbackTarget(name: string, time: ParityTarget['time'], createClient_: ClientFactory): ParityTarget {
	const connection = redis(createClient_);
	const database = sqlite();
	const transitions: CircuitEvent[] = [];
	return {
		name,
		time,
		windowMs: time === 'fake' ? 1000 : realWindowMs,
		async setup() {
			await Promise.all([connection.open(), database.open()]);
		},
		async teardown() {
			await Promise.all([connection.close(), database.close()]);
			expect(transitions).toEqual([]);
		},
		create(settings = {}) {
			const prefix = settings.prefix ?? uniquePrefix('parity');
			const store = new FallbackRateLimitStore(
				connection.store({...settings, prefix}), database.store({...settings, prefix}), {logger: quiet},
			);
			store.on('circuit', event => transitions.push(event));
			return store;
		},
	};
}

memoryStoreParity(redisTarget('RedisRateLimitStore on ioredis-mock, fake timers', 'fake', mockClient));
memoryStoreParity(prismaTarget('PrismaRateLimitStore on SQLite, fake timers'));
memoryStoreParity(fallbackTarget('FallbackRateLimitStore over ioredis-mock and SQLite, fake timers', 'fake', mockClient));
memoryStoreParity(redisTarget('RedisRateLimitStore on a real redis-server, ioredis', 'real', ioredisClient));
memoryStoreParity(redisTarget('RedisRateLimitStore on a real redis-server, node-redis 6', 'real', nodeRedis6Client));
memoryStoreParity(redisTarget('RedisRateLimitStore on a real redis-server, node-redis 5', 'real', nodeRedis5Client));
memoryStoreParity(fallbackTarget('FallbackRateLimitStore over a real redis-server (ioredis) and SQLite', 'real', ioredisClient));

describe('FallbackRateLimitStore: what it does to both stores', () => {
	const connection = redis(mockClient);
	const database = sqlite();
	beforeAll(async () => {
		await Promise.all([connection.open(), database.open()]);
	});

	afterAll(async () => {
		await Promise.all([connection.close(), database.close()]);
	});

	eachTestOn({time: 'fake'});

	function stack() {
		const prefix = uniquePrefix('both');
		const primary = connection.store({prefix});
		const fallback = database.store({prefix});
		const store = opening(new FallbackRateLimitStore(primary, fallback, {logger: quiet}));
		return {store, primary, fallback};
	}

	test('init() gives both stores the middleware\'s window and numeric limit', async () => {
		const {store, primary, fallback} = stack();
		store.init(middlewareOptions(1000, 3));
		expect(primary).toMatchObject({windowMs: 1000, limit: 3});
		expect(fallback).toMatchObject({windowMs: 1000, limit: 3});
		await expect(store.increment('a')).resolves.toEqual({totalHits: 1, resetTime: new Date(Date.now() + 1000)});
	});

	test('resetKey() and resetAll() reset both stores: a count left in the fallback is gone too', async () => {
		const {store, fallback} = stack();
		store.init(middlewareOptions(1000));
		for (const key of ['a', 'a', 'b']) {
			// eslint-disable-next-line no-await-in-loop
			await store.increment(key);
			// As counted during an outage: the fallback holds its own count.
			// eslint-disable-next-line no-await-in-loop
			await fallback.increment(key);
		}

		await store.resetKey('a');
		await expect(store.get('a')).resolves.toBeUndefined();
		await expect(fallback.get('a')).resolves.toBeUndefined();
		await expect(fallback.get('b')).resolves.toMatchObject({totalHits: 1});
		await store.resetAll();
		await expect(store.get('b')).resolves.toBeUndefined();
		await expect(fallback.get('b')).resolves.toBeUndefined();
	});

	test('shutdown() shuts both stores down: the Prisma store\'s sweep stops; both keep their counts and still answer', async () => {
		const before = jest.getTimerCount();
		const {store, fallback} = stack();
		// The Prisma store's cleanup sweep (every 60 s by default).
		expect(jest.getTimerCount()).toBe(before + 1);
		store.init(middlewareOptions(1000));
		await store.increment('a');
		await fallback.increment('a');
		await store.shutdown();
		await expect(store.get('a')).resolves.toMatchObject({totalHits: 1});
		await expect(fallback.get('a')).resolves.toMatchObject({totalHits: 1});
		const statements = jest.spyOn(database.prisma, '$executeRaw');
		try {
			jest.advanceTimersByTime(120_000);
			expect(statements).not.toHaveBeenCalled();
			// Nothing of the stores' is left (the guard's deadline timer has fired with nothing in flight).
			expect(jest.getTimerCount()).toBe(before);
		} finally {
			statements.mockRestore();
		}
	});

	test('with Redis down (the circuit open), the fallback answers as MemoryStore would; resetKey()/resetAll() reset it, then reject with Redis\'s error', async () => {
		const down = new Error('Redis is down');
		const fail = async () => Promise.reject(down);
		const prefix = uniquePrefix('down');
		const primary = new RedisRateLimitStore({
			redis: {client: connection.client, run: fail, ensureConnected: fail}, windowMs: constructorWindowMs, prefix,
		});
		const fallback = database.store({prefix});
		const decisions: string[] = [];
		const ours = new FallbackRateLimitStore(primary, fallback, {logger: quiet});
		ours.on('decision', decidedBy => decisions.push(decidedBy));
		const pair = new Lockstep(ours, 'fake');
		await pair.init(1000, 2);
		const hits = [];
		for (let index = 0; index < 4; index++) {
			// eslint-disable-next-line no-await-in-loop
			hits.push(await pair.both(`hit ${index + 1}`, async store => store.increment('k')));
		}

		expect(hits).toEqual([1, 2, 3, 4].map(totalHits => expect.objectContaining({totalHits, resetTime: 'window 1'})));
		expect(await pair.both('get', async store => store.get('k'))).toMatchObject({totalHits: 4});
		await pair.both('decrement', async store => store.decrement('k'));
		await pair.both('decrement', async store => store.decrement('k'));
		await pair.both('decrement', async store => store.decrement('k'));
		expect(await pair.both('get', async store => store.get('k'))).toMatchObject({totalHits: 1, resetTime: 'window 1'});
		pair.toLastMillisecond();
		expect(await pair.both('hit in the last millisecond', async store => store.increment('k'))).toMatchObject({totalHits: 2});
		await pair.untilWindowEnds();
		expect(await pair.both('hit at resetTime', async store => store.increment('k'))).toMatchObject({totalHits: 1, resetTime: 'window 2'});
		expect(decisions).toEqual(Array.from({length: 6}, () => 'fallback'));

		await expect(ours.resetKey('k')).rejects.toBe(down);
		await expect(fallback.get('k')).resolves.toBeUndefined();
		await ours.increment('k');
		await expect(ours.resetAll()).rejects.toBe(down);
		await expect(fallback.get('k')).resolves.toBeUndefined();
	});
});

describe('through express-rate-limit over HTTP: the same statuses and headers as MemoryStore, and no validation warning', () => {
	type Step = {client: string; path: '/ok' | '/fail'} | {advanceMs: number};
	type Answer = {status: number; headers: Record<string, string | undefined>};
	const windowMs = 60_000;
	const shownHeaders = ['ratelimit', 'ratelimit-policy', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];

	/** Let every macrotask and microtask queued so far run, until `condition` holds (bounded: no clock involved). */
	async function settle(condition: () => boolean): Promise<void> {
		for (let turn = 0; !condition(); turn++) {
			if (turn > 1000) {
				throw new Error('express-rate-limit did not call decrement()');
			}

			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setImmediate(resolve);
			});
		}
	}

	/** `steps` through `rateLimit({store, limit: 2, windowMs})` in an Express app: each answer, and what it logged. */
	async function serve(
		store: Store, steps: Step[], {skipFailedRequests = false} = {},
	): Promise<{answers: Answer[]; logged: unknown[]}> {
		const logged: unknown[] = [];
		const decrements: Array<Promise<unknown>> = [];
		const decrement = store.decrement.bind(store);
		// Same object (express-rate-limit's checks look at its class, prefix and localKeys): only its decrement is watched,
		// so that the next request waits for the decrement of the previous one.
		store.decrement = key => {
			const done = Promise.resolve(decrement(key));
			decrements.push(done);
			return done;
		};

		const app = express();
		app.use(rateLimit({
			store,
			windowMs,
			limit: 2,
			standardHeaders: 'draft-8',
			legacyHeaders: true,
			skipFailedRequests,
			keyGenerator: request_ => String(request_.headers['x-client']),
			logger: {warn: (...arguments_: unknown[]) => logged.push(['warn', ...arguments_]), error: (...arguments_: unknown[]) => logged.push(['error', ...arguments_])},
		}));
		app.get('/ok', (_request, response) => {
			response.send('ok');
		});
		app.get('/fail', (_request, response) => {
			response.status(500).send('failed');
		});

		const answers: Answer[] = [];
		for (const step of steps) {
			if ('advanceMs' in step) {
				jest.setSystemTime(Date.now() + step.advanceMs);
				continue;
			}

			// eslint-disable-next-line no-await-in-loop
			const response = await request(app).get(step.path).set('x-client', step.client);
			const headers = Object.fromEntries(shownHeaders.map(name => [name, response.headers[name]]));
			answers.push({status: response.status, headers});
			const expected = skipFailedRequests ? answers.filter(answer => answer.status >= 400).length : 0;
			// eslint-disable-next-line no-await-in-loop
			await settle(() => decrements.length >= expected);
			// eslint-disable-next-line no-await-in-loop
			await Promise.all(decrements);
			expect(decrements).toHaveLength(expected);
		}

		await store.shutdown?.();
		return {answers, logged};
	}

	const ok = (client = 'a'): Step => ({client, path: '/ok'});
	const fail = (client = 'a'): Step => ({client, path: '/fail'});

	// Hits over the limit, another client, and — where the store's clock is the test's — the window's end.
	const plain = (windowEnds: boolean): Step[] => [
		ok(), ok(), ok(), ok(), ok('b'),
		...(windowEnds
			? [{advanceMs: windowMs / 2}, ok(), {advanceMs: (windowMs / 2) - 1}, ok(), {advanceMs: 1}, ok()]
			: [ok()]),
	];
	// skipFailedRequests: a failed request and every 429 are taken back with decrement().
	const skippingFailures = (windowEnds: boolean): Step[] => [
		fail(), ok(), ok(), ok(), ok(), fail('b'), ok('b'),
		...(windowEnds ? [{advanceMs: windowMs - 1}, ok(), {advanceMs: 1}, ok(), ok()] : [ok()]),
	];

	const connection = {
		mock: redis(mockClient),
		ioredis: redis(ioredisClient),
		nodeRedis6: redis(nodeRedis6Client),
		nodeRedis5: redis(nodeRedis5Client),
	};
	const database = sqlite();
	beforeAll(async () => {
		await Promise.all([...Object.values(connection).map(async each => each.open()), database.open()]);
	});

	afterAll(async () => {
		await Promise.all([...Object.values(connection).map(async each => each.close()), database.close()]);
	});

	beforeEach(() => {
		// Only Date: Express, supertest and the clients keep their timers. A whole second, so that the headers' seconds
		// (X-RateLimit-Reset is absolute) come out the same for every store.
		jest.useFakeTimers({
			doNotFake: [
				'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval',
				'setTimeout', 'clearTimeout',
			],
			now: 1_800_000_000_000,
		});
	});

	afterEach(() => {
		jest.useRealTimers();
	});

	// Stores on ioredis-mock and SQLite follow the test's clock through a window's end; real Redis keeps its own, so
	// those sequences stay within one window (60 s).
	const stores: Array<[string, boolean, () => Store]> = [
		['RedisRateLimitStore on ioredis-mock', true, () => connection.mock.store()],
		['PrismaRateLimitStore on SQLite', true, () => database.store()],
		['FallbackRateLimitStore over ioredis-mock and SQLite', true, () => new FallbackRateLimitStore(connection.mock.store(), database.store(), {logger: quiet})],
		['RedisRateLimitStore on a real redis-server, ioredis', false, () => connection.ioredis.store()],
		['RedisRateLimitStore on a real redis-server, node-redis 6', false, () => connection.nodeRedis6.store()],
		['RedisRateLimitStore on a real redis-server, node-redis 5', false, () => connection.nodeRedis5.store()],
		['FallbackRateLimitStore over a real redis-server and SQLite', false, () => new FallbackRateLimitStore(connection.ioredis.store(), database.store(), {logger: quiet})],
	];

	describe.each(stores)('%s', (_name, windowEnds, create) => {
		test('hits over the limit, another client, the window\'s end: the same statuses and RateLimit/Retry-After headers; nothing logged', async () => {
			const steps = plain(windowEnds);
			const start = Date.now();
			const memory = await serve(new MemoryStore(), steps);
			jest.setSystemTime(start);
			const ours = await serve(create(), steps);
			expect(ours).toEqual(memory);
			expect(memory.logged).toEqual([]);
			expect(memory.answers.map(answer => answer.status))
				.toEqual(windowEnds ? [200, 200, 429, 429, 200, 429, 429, 200] : [200, 200, 429, 429, 200, 429]);
			expect(memory.answers[2]!.headers).toMatchObject({'retry-after': '60', ratelimit: expect.stringMatching(/; r=0; t=60$/)});
			if (windowEnds) {
				expect(memory.answers[5]!.headers).toMatchObject({'retry-after': '30'});
				expect(memory.answers[6]!.headers).toMatchObject({'retry-after': '1'});
				expect(memory.answers[7]!.headers).toMatchObject({'retry-after': undefined, ratelimit: expect.stringMatching(/; r=1; t=60$/)});
			}
		});

		test('skipFailedRequests (decrement() after a failure and after each 429): the same statuses and headers; nothing logged', async () => {
			const steps = skippingFailures(windowEnds);
			const start = Date.now();
			const memory = await serve(new MemoryStore(), steps, {skipFailedRequests: true});
			jest.setSystemTime(start);
			const ours = await serve(create(), steps, {skipFailedRequests: true});
			expect(ours).toEqual(memory);
			expect(memory.logged).toEqual([]);
			expect(memory.answers.map(answer => answer.status))
				.toEqual([500, 200, 200, 429, 429, 500, 200, 429, ...(windowEnds ? [200, 200] : [])]);
		});
	});

	test('the validations are on: a MemoryStore in two limiters is reported (so silence for our stores means something)', () => {
		const logged: unknown[] = [];
		const logger = {warn: (error: unknown) => logged.push(error), error: (error: unknown) => logged.push(error)};
		const store = new MemoryStore();
		rateLimit({store, logger});
		rateLimit({store, logger});
		store.shutdown();
		expect(logged).toEqual([expect.objectContaining({code: 'ERR_ERL_STORE_REUSE'})]);
	});

	test('the double-count check (localKeys false, prefix): two of our stores count one request once each, silently; with one prefix in both, it is reported', async () => {
		const run = async (prefixes: [string, string]) => {
			const logged: unknown[] = [];
			const logger = {warn: (error: unknown) => logged.push(error), error: (error: unknown) => logged.push(error)};
			const app = express();
			for (const prefix of prefixes) {
				app.use(rateLimit({store: connection.mock.store({prefix}), limit: 5, logger, keyGenerator: () => 'one-key'}));
			}

			app.get('/', (_request, response) => {
				response.send('ok');
			});
			const response = await request(app).get('/');
			return {status: response.status, logged};
		};

		await expect(run([uniquePrefix('first'), uniquePrefix('second')])).resolves.toEqual({status: 200, logged: []});
		const shared = uniquePrefix('shared');
		await expect(run([shared, shared])).resolves.toEqual({status: 200, logged: [expect.objectContaining({code: 'ERR_ERL_DOUBLE_COUNT'})]});
	});
});
