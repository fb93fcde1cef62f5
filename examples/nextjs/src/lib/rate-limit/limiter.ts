/*
One Redis client, one guard and one set of stores per server process. `next dev` evaluates this module again after
every edit; keeping them on globalThis means a reload reuses them instead of opening another connection (with its own
listeners) each time. Node.js runtime only: ioredis and Prisma's SQLite driver need TCP sockets and native code, which
the Edge runtime does not have.
*/
import {mkdirSync} from 'node:fs';
import {dirname, resolve} from 'node:path';
import {Redis} from 'ioredis';
import {createClient} from 'redis';
import {guardedRedis, type RedisGuard} from 'connection-guard';
import {rateLimitConfig, type RateLimitConfig, type RedisClient} from './stores.js';
import {createRateLimitPrisma, FallbackRateLimitStore, PrismaRateLimitStore, RedisRateLimitStore} from './stores.js';

export type Limiter = {
	readonly config: RateLimitConfig;
	readonly redis: RedisGuard<RedisClient>;
	readonly store: FallbackRateLimitStore;
};

/**
The client REDIS_CLIENT names. Lazy (node-redis always is): the first request connects it, through the guard — one
connect() however many requests arrive at once. No resend (ioredis) and no offline queue (node-redis): a command cut off
by a dropped connection is answered by the fallback, never sent again.
*/
function redisClient({redisClient: library, redisUrl}: RateLimitConfig): RedisClient {
	const client = library === 'node-redis'
		? createClient({url: redisUrl, disableOfflineQueue: true})
		: new Redis(redisUrl, {lazyConnect: true, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false});
	// The fallback store logs outages once; ioredis would log every retry, and node-redis crash the process.
	client.on('error', () => undefined);
	return client;
}

async function createLimiter(): Promise<Limiter> {
	const config = rateLimitConfig();
	const redis = guardedRedis(redisClient(config), {timeoutMs: 1000});

	if (config.databaseUrl.startsWith('file:')) {
		// SQLite creates the file, not its folder.
		mkdirSync(dirname(resolve(config.databaseUrl.slice('file:'.length))), {recursive: true});
	}

	const {prisma} = await createRateLimitPrisma(config.databaseUrl);
	const prefix = 'rl:next:';
	const store = new FallbackRateLimitStore(
		new RedisRateLimitStore({redis, windowMs: config.windowMs, prefix, timeoutMs: 1000, algorithm: config.algorithm}),
		new PrismaRateLimitStore({prisma, windowMs: config.windowMs, prefix, algorithm: config.algorithm}),
		{limit: config.limit, cooldownMs: config.cooldownMs},
	);
	return {config, redis, store};
}

const globalForLimiter = globalThis as typeof globalThis & {rateLimiter?: Promise<Limiter>};

/** The process's limiter, made on first use (a failed start is not kept: the next request tries again). */
export async function limiter(): Promise<Limiter> {
	globalForLimiter.rateLimiter ??= createLimiter().catch((error: unknown) => {
		globalForLimiter.rateLimiter = undefined;
		throw error;
	});
	return globalForLimiter.rateLimiter;
}
