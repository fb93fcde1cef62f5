import RedisMock from 'ioredis-mock';
import {guardedRedis} from 'connection-guard';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {rateLimitConfig} from '../../examples/rate-limit/config.js';
import {RedisRateLimitStore, type RedisConnectionSource} from '../../examples/rate-limit/redis-store.js';

const prisma = {$queryRaw: jest.fn(), $executeRaw: jest.fn(), $executeRawUnsafe: jest.fn()};
// One mock for every construction case: each ioredis-mock instance adds a listener to a context shared per host:port.
const mock = new RedisMock();
const mocks: Array<InstanceType<typeof RedisMock>> = [mock];
afterAll(() => {
	for (const each of mocks) {
		each.disconnect();
	}
});

const factories = {
	RedisRateLimitStore: (options: object) => new RedisRateLimitStore({redis: mock, windowMs: 1000, ...options} as never),
	PrismaRateLimitStore: (options: object) =>
		new PrismaRateLimitStore({prisma, windowMs: 1000, cleanupIntervalMs: 0, ...options} as never),
};

describe.each(Object.entries(factories))('%s construction', (_name, create) => {
	test.each([
		[{limit: 0}, RangeError, /`limit`/],
		[{limit: -3}, RangeError, /`limit`/],
		[{limit: 2.5}, RangeError, /`limit`/],
		[{limit: '10'}, TypeError, /`limit`/],
		[{windowMs: Number.NaN}, RangeError, /`windowMs`/],
		[{windowMs: 0}, RangeError, /`windowMs`/],
		[{windowMs: -1000}, RangeError, /`windowMs`/],
		[{windowMs: '1m'}, TypeError, /`windowMs`/],
		[{prefix: ''}, RangeError, /`prefix`/],
		[{prefix: 7}, TypeError, /`prefix`/],
		[{algorithm: 'leaky-bucket'}, RangeError, /^Expected `algorithm` to be one of 'fixed-window', 'sliding-window', 'token-bucket', got `leaky-bucket`$/],
		[{algorithm: 3}, TypeError, /`algorithm`/],
	])('%p throws %p naming the option', (options, ErrorType, message) => {
		expect(() => create(options)).toThrow(ErrorType);
		expect(() => create(options)).toThrow(message);
	});

	test('valid options are kept; init() adopts the middleware window', () => {
		const store = create({limit: 5, prefix: 'api:'});
		expect(store).toMatchObject({limit: 5, prefix: 'api:', windowMs: 1000});
		store.init({windowMs: 30_000} as never);
		expect(store.windowMs).toBe(30_000);
		expect(() => store.init({windowMs: -1} as never)).toThrow(RangeError);
	});

	test.each(['sliding-window', 'token-bucket'])('%s: a hit with no numeric limit (a limit that is a function of the request) rejects, naming `limit`', async algorithm => {
		const store = create({algorithm});
		expect(store.algorithm).toBe(algorithm);
		await expect(store.increment('a')).rejects.toThrow(new RangeError(`Expected \`limit\` to be a finite number with \`algorithm: '${algorithm}'\`: it decides at the store`));
	});

	test('the fixed window stays the default', () => {
		expect(create({}).algorithm).toBe('fixed-window');
	});
});

test.each([
	[-1, RangeError],
	[Number.NaN, RangeError],
	[Number.POSITIVE_INFINITY, RangeError],
	[2 ** 31, RangeError],
	['60s', TypeError],
])('PrismaRateLimitStore({cleanupIntervalMs: %p}) throws %p naming it', (cleanupIntervalMs, ErrorType) => {
	const create = () => new PrismaRateLimitStore({prisma, windowMs: 1000, cleanupIntervalMs: cleanupIntervalMs as never});
	expect(create).toThrow(ErrorType);
	expect(create).toThrow(/`cleanupIntervalMs`/);
});

test('PrismaRateLimitStore({cleanupIntervalMs: 0}) starts no sweep', async () => {
	jest.useFakeTimers();
	try {
		const store = new PrismaRateLimitStore({prisma, windowMs: 1000, cleanupIntervalMs: 0});
		expect(jest.getTimerCount()).toBe(0);
		await store.shutdown();
	} finally {
		jest.useRealTimers();
	}
});

test('RedisRateLimitStore rejects something that is neither a client nor a guard, naming `redis`', () => {
	expect(() => new RedisRateLimitStore({redis: {} as never, windowMs: 1000})).toThrow(/^Expected `redis` to be an ioredis, iovalkey or node-redis client/);
	expect(() => new RedisRateLimitStore({redis: undefined as never, windowMs: 1000})).toThrow(/`redis`.*got `undefined`/);
});

test.each([
	[{timeout: 500}, /^Unknown option `timeout`: the options are `windowMs`, `limit`, `prefix`, `inMemoryBlock`, `inMemoryBlockKeys`, `algorithm`, `redis`, `timeoutMs`, `now`$/],
	[{now: 5}, /`now`/],
	[{inMemoryBlock: 'yes'}, /`inMemoryBlock`/],
	[{inMemoryBlockKeys: -1}, /`inMemoryBlockKeys`/],
	[{timeoutMs: 0}, /`timeoutMs`/],
])('RedisRateLimitStore(%p) throws naming the option', (options, message) => {
	expect(() => new RedisRateLimitStore({redis: mock, windowMs: 1000, ...options} as never)).toThrow(message);
});

test('PrismaRateLimitStore rejects something that is not a Prisma client', () => {
	expect(() => new PrismaRateLimitStore({prisma: {} as never, windowMs: 1000})).toThrow(/`prisma`/);
});

test('RedisRateLimitStore works on ioredis-mock, as in users\' own unit tests', async () => {
	const client = new RedisMock({lazyConnect: true});
	mocks.push(client);
	const store = new RedisRateLimitStore({redis: client, windowMs: 60_000, prefix: 'mock:'});
	await store.increment('a');
	await expect(store.increment('a')).resolves.toMatchObject({totalHits: 2});
	await store.decrement('a');
	await expect(store.get('a')).resolves.toMatchObject({totalHits: 1});
});

test('RedisRateLimitStore runs every operation through its source\'s run(), with its timeoutMs', async () => {
	const client = new RedisMock();
	mocks.push(client);
	const guard = guardedRedis(client);
	const runOptions: unknown[] = [];
	const source: RedisConnectionSource<typeof client> = {
		client,
		ensureConnected: guard.ensureConnected,
		async run(fn, options) {
			runOptions.push(options);
			return guard.run(fn, options);
		},
	};
	const store = new RedisRateLimitStore({redis: source, windowMs: 60_000, prefix: 'source:', timeoutMs: 250});
	await store.increment('a');
	await store.decrement('a');
	await store.get('a');
	await store.resetKey('a');
	expect(runOptions).toEqual(Array.from({length: 4}, () => ({timeoutMs: 250})));
});

test('RedisRateLimitStore: a source that fails rejects the operation with that error and writes nothing', async () => {
	const client = new RedisMock();
	mocks.push(client);
	const failure = new Error('Redis is down');
	const fail = async () => Promise.reject(failure);
	const source = {client, ensureConnected: fail, run: fail};
	const store = new RedisRateLimitStore({redis: source, windowMs: 1000, prefix: 'down:'});
	await expect(store.increment('a')).rejects.toBe(failure);
	expect(await client.keys('down:*')).toEqual([]);
});

test('RATE_LIMIT_ALGORITHM picks the example apps\' algorithm (fixed window by default); anything else stops them, naming it', () => {
	expect(rateLimitConfig({}).algorithm).toBe('fixed-window');
	expect(rateLimitConfig({RATE_LIMIT_ALGORITHM: 'token-bucket'}).algorithm).toBe('token-bucket');
	expect(() => rateLimitConfig({RATE_LIMIT_ALGORITHM: 'sliding'})).toThrow(new RangeError('Expected `RATE_LIMIT_ALGORITHM` to be one of `fixed-window`, `sliding-window`, `token-bucket`, got `sliding`'));
});
