import {Cluster, Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {RedisRateLimitStore, type RedisClient} from '../../examples/rate-limit/redis-store.js';
import {RedisCluster, RedisServer} from '../servers/redis-server.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';
import {prismaCleanupSuite} from './prisma-cleanup.js';
import {prismaTarget, storeContract, type StoreTarget} from './store-contract.js';

jest.setTimeout(60_000);

async function untilPast(info: {resetTime?: Date}): Promise<void> {
	const wait = info.resetTime!.getTime() - Date.now() + 5;
	if (wait > 0) {
		await new Promise(resolve => {
			setTimeout(resolve, wait);
		});
	}
}

function redisTarget(name: string, start: () => Promise<{client: RedisClient; stop(): Promise<void>}>): StoreTarget {
	let client: RedisClient;
	let stop: () => Promise<void>;
	return {
		name,
		async setup() {
			({client, stop} = await start());
		},
		async teardown() {
			await guardedRedis(client).close();
			await stop();
		},
		store: ({windowMs}) => new RedisRateLimitStore({redis: guardedRedis(client), windowMs, prefix: uniquePrefix('redis')}),
		// Redis expires the key on its own clock (ms precision): once resetTime has passed, INCR starts at 1.
		endWindow: untilPast,
		async keysWithPrefix(prefix) {
			if (client instanceof Cluster) {
				const perNode = await Promise.all(client.nodes('master').map(async node => node.keys(`${prefix}*`)));
				return perNode.flat();
			}

			return client.keys(`${prefix}*`);
		},
	};
}

storeContract(redisTarget('RedisRateLimitStore on a real redis-server', async () => {
	const server = await RedisServer.start();
	return {client: new Redis({port: server.port, lazyConnect: true}), stop: async () => server.stop()};
}));

storeContract(redisTarget('RedisRateLimitStore on a real 3-master Redis Cluster', async () => {
	const cluster = await RedisCluster.start(3);
	return {client: new Cluster(cluster.startupNodes, {lazyConnect: true}), stop: async () => cluster.stop()};
}));

storeContract(prismaTarget('PrismaRateLimitStore on SQLite (better-sqlite3 adapter)', sqlitePrisma));

prismaCleanupSuite('SQLite', sqlitePrisma);
