/*
The sliding window and the token bucket on real servers against their reference model (algorithms.ts), on a moving
clock (the stores' `now` option): Redis (ioredis and node-redis, one server and a 3-master Cluster) and the Prisma store
(SQLite here, PostgreSQL in algorithms-postgres.test.ts). The tolerance is zero: for the same clock every store admits
exactly the hits the model admits, with the same totalHits and resetTime (integer arithmetic everywhere). Then what a
user relies on: waiting exactly until resetTime (Retry-After) is let through and a millisecond less is not, keys over
their limit are answered from memory, and the burst at a window boundary that a fixed window admits and a sliding window
refuses.
*/
import {Cluster, Redis} from 'ioredis';
import {createClient, createCluster} from 'redis';
import {guardedRedis} from 'connection-guard';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore, type RedisClient} from '../../examples/rate-limit/redis-store.js';
import {RedisCluster, RedisServer} from '../servers/redis-server.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';
import {algorithmSuite, type AlgorithmTarget} from './algorithm-contract.js';

jest.setTimeout(120_000);

// One server and one cluster for the whole file: each store has a prefix of its own.
let server: RedisServer;
let cluster: RedisCluster;
beforeAll(async () => {
	[server, cluster] = await Promise.all([RedisServer.start(), RedisCluster.start(3)]);
});

afterAll(async () => {
	await Promise.all([server.stop(), cluster.stop()]);
});

function redisTarget(name: string, connect: () => RedisClient): AlgorithmTarget {
	let client: RedisClient;
	return {
		name,
		async setup() {
			client = connect();
			client.on('error', () => undefined);
		},
		async teardown() {
			await guardedRedis(client).close();
		},
		store: settings => new RedisRateLimitStore({redis: client, prefix: uniquePrefix('algorithm'), ...settings}),
	};
}

algorithmSuite(redisTarget('ioredis on a real redis-server', () =>
	new Redis({port: server.port, lazyConnect: true, autoResendUnfulfilledCommands: false})));
algorithmSuite(redisTarget('ioredis Cluster on a real 3-master Redis Cluster', () =>
	new Cluster(cluster.startupNodes, {lazyConnect: true, redisOptions: {autoResendUnfulfilledCommands: false}})));
algorithmSuite(redisTarget('node-redis on a real redis-server', () => createClient({socket: {port: server.port}})));
algorithmSuite(redisTarget('node-redis cluster on a real 3-master Redis Cluster', () => createCluster({
	rootNodes: cluster.startupNodes.map(({host, port}) => ({socket: {host, port}})),
})));

let sqlite: Awaited<ReturnType<typeof sqlitePrisma>>;
algorithmSuite({
	name: 'Prisma on SQLite',
	async setup() {
		sqlite = await sqlitePrisma();
	},
	teardown: async () => sqlite.cleanup(),
	store: settings => new PrismaRateLimitStore({
		prisma: sqlite.prisma, prefix: uniquePrefix('algorithm'), cleanupIntervalMs: 0, ...settings,
	}),
});

describe('the boundary burst: `limit` hits at a window\'s end and `limit` more at the next one\'s start', () => {
	const limit = 10;
	const windowMs = 1000;
	// The last 10 ms of one window and the first 10 ms of the next.
	const burst = async (store: {increment(key: string): Promise<{totalHits: number}>}, setNow: (now: number) => void) => {
		const admitted: number[] = [];
		for (const at of [1_000_990, 1_001_000]) {
			setNow(at);
			let count = 0;
			for (let index = 0; index < limit; index++) {
				// eslint-disable-next-line no-await-in-loop
				count += (await store.increment('burst')).totalHits <= limit ? 1 : 0;
			}

			admitted.push(count);
		}

		return admitted;
	};

	test('a fixed window (Prisma, its window started by a hit at the first one\'s start) admits twice the limit within 10 ms', async () => {
		let now = 1_000_000;
		const {prisma, cleanup} = await sqlitePrisma();
		const store = new PrismaRateLimitStore({
			prisma, prefix: uniquePrefix('burst'), windowMs, limit, now: () => now, cleanupIntervalMs: 0,
		});
		try {
			// The window starts here; the burst's first half still fits in it (one hit used).
			await store.increment('burst');
			const [first, second] = await burst(store, at => {
				now = at;
			});
			expect(first).toBe(limit - 1);
			expect(second).toBe(limit);
		} finally {
			await cleanup();
		}
	});

	test.each([
		['sliding-window', 'refuses the second half: the previous window still weighs 99%', 0],
		['token-bucket', 'refuses the second half: no token refilled in 10 ms (one per 100 ms)', 0],
	] as const)('%s on Redis %s', async (algorithm, _why, second) => {
		let now = 1_000_000;
		const client = new Redis({port: server.port, lazyConnect: true});
		const store = new RedisRateLimitStore({
			redis: client, prefix: uniquePrefix('burst'), windowMs, limit, algorithm, now: () => now,
		});
		try {
			const halves = await burst(store, at => {
				now = at;
			});
			expect(halves).toEqual([limit, second]);
		} finally {
			client.disconnect();
		}
	});
});
