/*
Cluster failover under traffic: 3 masters + 3 replicas on loopback. The master that owns a hot key is SIGKILLed while
requests flow through the guarded example store behind the Prisma fallback. Errors go to the fallback, no request is
lost or left hanging, and traffic returns to Redis once a replica has taken over.
*/
import {Cluster} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore, type DecidedBy} from '../../examples/rate-limit/fallback-store.js';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../../examples/rate-limit/redis-store.js';
import {RedisCluster} from '../servers/redis-server.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';

jest.setTimeout(90_000);

test('SIGKILL of the master owning a hot key: every request answered (fallback meanwhile), then back on Redis after failover', async () => {
	const cluster = await RedisCluster.start(3, {replicasPerMaster: 1, nodeTimeoutMs: 1000});
	const {prisma, cleanup} = await sqlitePrisma();
	const client = new Cluster(cluster.startupNodes, {
		lazyConnect: true,
		redisOptions: {disconnectTimeout: 100, maxRetriesPerRequest: 1},
		// Retry while the slot has no master yet; the store's deadline bounds every request anyway.
		retryDelayOnClusterDown: 100,
		retryDelayOnFailover: 100,
	});
	client.on('error', () => undefined);
	const guard = guardedRedis(client);
	try {
		const prefix = uniquePrefix('failover');
		const timeoutMs = 800;
		const redisStore = new RedisRateLimitStore({redis: guard, windowMs: 600_000, prefix, timeoutMs});
		const prismaStore = new PrismaRateLimitStore({prisma, windowMs: 600_000, prefix, cleanupIntervalMs: 0});
		const logger = {warn: jest.fn(), info: jest.fn()};
		const store = new FallbackRateLimitStore(redisStore, prismaStore, {cooldownMs: 200, logger});

		await guard.ensureConnected();
		const victim = await cluster.masterOf(`${prefix}hot`);

		const decisions: DecidedBy[] = [];
		let slowest = 0;
		let failures = 0;
		let killedAt = -1;
		let primaryStreakAfterKill = 0;
		const deadline = Date.now() + 45_000;
		const worker = async () => {
			while (Date.now() < deadline && primaryStreakAfterKill < 100) {
				const started = performance.now();
				try {
					// eslint-disable-next-line no-await-in-loop
					const {decidedBy} = await store.incrementDetailed('hot');
					decisions.push(decidedBy);
					if (killedAt >= 0 && decisions.length > killedAt) {
						primaryStreakAfterKill = decidedBy === 'primary' ? primaryStreakAfterKill + 1 : 0;
					}
				} catch {
					failures++;
				}

				slowest = Math.max(slowest, performance.now() - started);
				// Requests arrive through I/O in a real server: yield to the event loop between them, as a socket would.
				// eslint-disable-next-line no-await-in-loop
				await new Promise(resolve => {
					setImmediate(resolve);
				});
				if (decisions.length >= 200 && killedAt < 0) {
					killedAt = decisions.length;
					// eslint-disable-next-line no-await-in-loop
					await victim.kill();
				}
			}
		};

		await Promise.all(Array.from({length: 8}, worker));

		expect(killedAt).toBeGreaterThanOrEqual(200);
		// No request lost: every one was answered by one of the stores.
		expect(failures).toBe(0);
		// None left hanging: the store's deadline plus the fallback's own time bounds each request.
		expect(slowest).toBeLessThan(timeoutMs + 2000);
		expect(decisions.slice(0, killedAt - 8).every(by => by === 'primary')).toBe(true);
		// The outage was noticed and answered from the fallback...
		expect(decisions.slice(killedAt).filter(by => by === 'fallback').length).toBeGreaterThan(0);
		expect(logger.warn).toHaveBeenCalledTimes(1);
		// ...and traffic returned to Redis once a replica had taken over.
		expect(primaryStreakAfterKill).toBeGreaterThanOrEqual(100);
		expect(logger.info).toHaveBeenCalled();
		expect(await cluster.masterOf(`${prefix}hot`)).not.toBe(victim);
	} finally {
		client.disconnect();
		await cluster.stop();
		await cleanup();
	}
});
