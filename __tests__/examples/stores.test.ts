import {Cluster, Redis} from 'ioredis';
import {createClient, createCluster} from 'redis';
import {createClient as createClient5, createCluster as createCluster5} from 'redis5';
import {guardedRedis} from 'connection-guard';
import {incrementScript, RedisRateLimitStore, type RedisClient, type RedisConnectionSource} from '../../examples/rate-limit/redis-store.js';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {cli, RedisCluster, RedisServer} from '../servers/redis-server.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';
import {prismaCleanupSuite} from './prisma-cleanup.js';
import {prismaTarget, storeContract, type StoreTarget} from './store-contract.js';

jest.setTimeout(60_000);

// One server and one cluster for every client of this file: each store has a prefix of its own.
let server: RedisServer;
let cluster: RedisCluster;
beforeAll(async () => {
	[server, cluster] = await Promise.all([RedisServer.start(), RedisCluster.start(3)]);
});

afterAll(async () => {
	await Promise.all([server.stop(), cluster.stop()]);
});

async function untilPast(info: {resetTime?: Date}): Promise<void> {
	const wait = info.resetTime!.getTime() - Date.now() + 5;
	if (wait > 0) {
		await new Promise(resolve => {
			setTimeout(resolve, wait);
		});
	}
}

type Connected = {client: RedisClient; keys(pattern: string): Promise<string[]>};

function redisTarget(name: string, connect: () => Connected): StoreTarget {
	let connected: Connected;
	return {
		name,
		async setup() {
			connected = connect();
			connected.client.on('error', () => undefined);
		},
		async teardown() {
			await guardedRedis(connected.client).close();
		},
		store: ({prefix = uniquePrefix('redis'), ...settings}) => new RedisRateLimitStore({redis: connected.client, prefix, ...settings}),
		// Redis expires the key on its own clock (ms precision): once resetTime has passed, the next hit starts at 1.
		endWindow: untilPast,
		keysWithPrefix: async prefix => connected.keys(`${prefix}*`),
	};
}

const ioredis = (): Connected => {
	const client = new Redis({port: server.port, lazyConnect: true, autoResendUnfulfilledCommands: false});
	return {client, keys: async pattern => client.keys(pattern)};
};

const ioredisCluster = (): Connected => {
	const client = new Cluster(cluster.startupNodes, {
		lazyConnect: true, redisOptions: {autoResendUnfulfilledCommands: false},
	});
	return {
		client,
		keys: async pattern => (await Promise.all(client.nodes('master').map(async node => node.keys(pattern)))).flat(),
	};
};

type NodeRedisCluster = ReturnType<typeof createCluster>;

const nodeRedis = (create: typeof createClient) => (): Connected => {
	const client = create({socket: {port: server.port}});
	return {client, keys: async pattern => client.keys(pattern)};
};

const nodeRedisCluster = (create: typeof createCluster) => (): Connected => {
	const client: NodeRedisCluster = create({
		rootNodes: cluster.startupNodes.map(({host, port}) => ({socket: {host, port}})),
	});
	const keysOn = async (master: NodeRedisCluster['masters'][number], pattern: string) =>
		(await client.nodeClient(master)).keys(pattern);
	return {
		client,
		keys: async pattern => (await Promise.all(client.masters.map(async master => keysOn(master, pattern)))).flat(),
	};
};

storeContract(redisTarget('RedisRateLimitStore, ioredis on a real redis-server', ioredis));
storeContract(redisTarget('RedisRateLimitStore, ioredis Cluster on a real 3-master Redis Cluster', ioredisCluster));
storeContract(redisTarget('RedisRateLimitStore, node-redis 6 on a real redis-server', nodeRedis(createClient)));
storeContract(redisTarget('RedisRateLimitStore, node-redis 5 on a real redis-server', nodeRedis(createClient5 as unknown as typeof createClient)));
storeContract(redisTarget('RedisRateLimitStore, node-redis 6 cluster on a real 3-master Redis Cluster', nodeRedisCluster(createCluster)));
storeContract(redisTarget('RedisRateLimitStore, node-redis 5 cluster on a real 3-master Redis Cluster', nodeRedisCluster(createCluster5 as unknown as typeof createCluster)));

storeContract(prismaTarget('PrismaRateLimitStore on SQLite (better-sqlite3 adapter)', sqlitePrisma));

prismaCleanupSuite('SQLite', sqlitePrisma);

describe('the window boundary: a hit never counts in a window with no time left', () => {
	test('Redis: thousands of 2 ms windows driven to their last millisecond: every reply has time left, and a new window starts at 1', async () => {
		const client = new Redis({port: server.port});
		try {
			const key = `${uniquePrefix('boundary')}k`;
			let previous: [number, number] | undefined;
			let windows = 0;
			const endAt = performance.now() + 1500;
			while (performance.now() < endAt) {
				// Pipelined in bursts, so that many hits land in each window's last millisecond.
				// eslint-disable-next-line no-await-in-loop
				const replies = await Promise.all(Array.from({length: 20}, async () =>
					client.eval(incrementScript.lua, 1, key, 2) as Promise<[number, number]>));
				for (const reply of replies) {
					const [hits, ttl] = reply;
					expect(ttl).toBeGreaterThanOrEqual(1);
					if (hits === 1) {
						windows++;
					} else {
						expect(hits).toBe(previous![0] + 1);
					}

					previous = reply;
				}
			}

			expect(windows).toBeGreaterThan(100);
		} finally {
			client.disconnect();
		}
	});

	test('Prisma: a hit at the window\'s last millisecond counts in it; at its end, a new window starts at 1; a handed-over count with no time left is not counted on', async () => {
		const {prisma, cleanup} = await sqlitePrisma();
		try {
			let now = 1_000_000;
			const store = new PrismaRateLimitStore({prisma, windowMs: 1000, prefix: uniquePrefix('edge'), now: () => now, cleanupIntervalMs: 0});
			await expect(store.increment('k')).resolves.toMatchObject({totalHits: 1, resetTime: new Date(1_001_000)});
			now = 1_000_999;
			await expect(store.increment('k')).resolves.toMatchObject({totalHits: 2, resetTime: new Date(1_001_000)});
			now = 1_001_000;
			await expect(store.increment('k')).resolves.toMatchObject({totalHits: 1, resetTime: new Date(1_002_000)});
			await expect(store.increment('handed', {totalHits: 7, resetTime: new Date(now)})).resolves.toMatchObject({totalHits: 1});
			await expect(store.increment('handed-live', {totalHits: 7, resetTime: new Date(now + 1)})).resolves.toMatchObject({totalHits: 8});
		} finally {
			await cleanup();
		}
	});
});

describe.each([
	['ioredis', ioredis, false],
	['ioredis Cluster', ioredisCluster, true],
	['node-redis 6', nodeRedis(createClient), false],
	['node-redis 5', nodeRedis(createClient5 as unknown as typeof createClient), false],
	['node-redis 6 cluster', nodeRedisCluster(createCluster), true],
	['node-redis 5 cluster', nodeRedisCluster(createCluster5 as unknown as typeof createCluster), true],
] as const)('%s', (_name, connect, clustered) => {
	test('after SCRIPT FLUSH (a restarted or failed-over server) the scripts are loaded again: counting goes on', async () => {
		const {client} = connect();
		client.on('error', () => undefined);
		try {
			const store = new RedisRateLimitStore({redis: client, windowMs: 60_000, prefix: uniquePrefix('noscript')});
			await expect(store.increment('k')).resolves.toMatchObject({totalHits: 1});
			const ports = clustered ? cluster.nodes.map(node => node.port) : [server.port];
			await Promise.all(ports.map(async port => cli(port, 'SCRIPT', 'FLUSH')));
			await expect(store.increment('k')).resolves.toMatchObject({totalHits: 2});
			await expect(store.get('k')).resolves.toMatchObject({totalHits: 2});
			await expect(store.decrement('k')).resolves.toBeUndefined();
			await expect(store.get('k')).resolves.toMatchObject({totalHits: 1});
		} finally {
			await guardedRedis(client).close();
		}
	});
});

test('resetAll() also deletes the hand-over markers: a second outage in the same window hands its hits over in full', async () => {
	const client = new Redis({port: server.port, autoResendUnfulfilledCommands: false});
	client.on('error', () => undefined);
	try {
		const store = new RedisRateLimitStore({redis: client, windowMs: 60_000, prefix: uniquePrefix('reset-markers')});
		const resetTime = new Date(Date.now() + 60_000);
		expect(await store.addUnsynced([{key: 'k', totalHits: 5, synced: 0, resetTime}])).toEqual([]);
		await store.resetAll();
		expect(await client.keys(`*${store.prefix}*`)).toEqual([]);
		await store.increment('k');
		await store.increment('k');
		// The fallback counted 4 in the second outage, of which Redis had 2 when it took over: Redis ends at 4.
		expect(await store.addUnsynced([{key: 'k', totalHits: 4, synced: 2, resetTime}])).toEqual([]);
		expect((await store.get('k'))?.totalHits).toBe(4);
	} finally {
		client.disconnect();
	}
});

test('PrismaRateLimitStore: the increments of one turn go out as one statement, a row per key; a key\'s hits count in order', async () => {
	const {prisma, cleanup} = await sqlitePrisma();
	try {
		// One clock reading for every hit: the hits of one turn made in different milliseconds go in separate statements.
		const store = new PrismaRateLimitStore({
			prisma, windowMs: 60_000, prefix: uniquePrefix('batch'), cleanupIntervalMs: 0, now: () => 1_000_000,
		});
		const statements = jest.spyOn(prisma, '$queryRaw');
		const keys = Array.from({length: 50}, (_, index) => `user-${index}`);
		const first = await Promise.all(keys.map(async key => store.increment(key)));
		expect(first.map(info => info.totalHits)).toEqual(keys.map(() => 1));
		expect(statements).toHaveBeenCalledTimes(1);

		// One key three times in one turn: three statements, one after the other, answering 2, 3, 4 in call order.
		statements.mockClear();
		const again = await Promise.all([store.increment('user-0'), store.increment('user-0'), store.increment('user-1'), store.increment('user-0')]);
		expect(again.map(info => info.totalHits)).toEqual([2, 3, 2, 4]);
		expect(statements).toHaveBeenCalledTimes(3);

		// get() waits for the increments made before it.
		const pending = store.increment('user-2');
		await expect(store.get('user-2')).resolves.toMatchObject({totalHits: 2});
		await pending;
	} finally {
		await cleanup();
	}
});

test('PrismaRateLimitStore: its default clock is read at each call, so fake timers installed after construction move its windows', async () => {
	const {prisma, cleanup} = await sqlitePrisma();
	const store = new PrismaRateLimitStore({prisma, windowMs: 1000, prefix: uniquePrefix('fake-clock'), cleanupIntervalMs: 0});
	jest.useFakeTimers({now: 5_000_000, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
	try {
		await expect(store.increment('a')).resolves.toEqual({totalHits: 1, resetTime: new Date(5_001_000)});
		jest.advanceTimersByTime(1000);
		await expect(store.increment('a')).resolves.toEqual({totalHits: 1, resetTime: new Date(5_002_000)});
	} finally {
		jest.useRealTimers();
		await cleanup();
	}
});

test('RedisRateLimitStore: a script that reaches Redis late still answers a resetTime no earlier than Redis\'s own window end (a client that waits Retry-After is let through), and a key over its limit is answered from memory only until that end', async () => {
	const client = new Redis({port: server.port, autoResendUnfulfilledCommands: false});
	client.on('error', () => undefined);
	const guard = guardedRedis(client);
	const lateMs = 300;
	// Time passes before each script reaches Redis (a slow network, a busy event loop): the window starts that late.
	const late: RedisConnectionSource<Redis> = {
		client,
		ensureConnected: async options => guard.ensureConnected(options),
		async run(fn, options) {
			await new Promise(resolve => {
				setTimeout(resolve, lateMs);
			});
			return guard.run(fn, options);
		},
	};
	const prefix = uniquePrefix('late');
	const windowMs = 60_000;
	try {
		const store = new RedisRateLimitStore({redis: late, windowMs, limit: 1, prefix});
		const sentAt = Date.now();
		const first = await store.increment('k');
		const redisEnd = Date.now() + await client.pttl(`${prefix}k`);
		expect(first.totalHits).toBe(1);
		// Redis's window began at least `lateMs` after the call: so does the end the store answers.
		expect(first.resetTime!.getTime()).toBeGreaterThanOrEqual(sentAt + lateMs + windowMs);
		expect(first.resetTime!.getTime()).toBeGreaterThanOrEqual(redisEnd - 1);
		expect(first.resetTime!.getTime()).toBeLessThanOrEqual(Date.now() + windowMs);

		// Over the limit: answered from memory from now on, with the same end, and no later than Redis's own.
		const over = await store.increment('k');
		expect(over.totalHits).toBe(2);
		expect(over.resetTime!.getTime()).toBeGreaterThanOrEqual(redisEnd - 1);
		const calls = jest.spyOn(late, 'run');
		await expect(store.increment('k')).resolves.toMatchObject({totalHits: 3});
		expect(calls).not.toHaveBeenCalled();
	} finally {
		await guard.close();
	}
});

test('a client of no kind the store knows is refused at construction, naming the option', () => {
	expect(() => new RedisRateLimitStore({redis: {$queryRaw() {}} as never, windowMs: 1000})).toThrow(TypeError);
	expect(() => new RedisRateLimitStore({redis: {$queryRaw() {}} as never, windowMs: 1000}))
		.toThrow('Expected `redis` to be an ioredis, iovalkey or node-redis client or cluster, or a `guardedRedis()` guard of one, got `object`');
	expect(() => new RedisRateLimitStore({redis: 'redis://localhost' as never, windowMs: 1000})).toThrow(/`redis`.*got `string`/);
});
