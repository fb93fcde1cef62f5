/*
One Redis client, one guard and one set of stores per server process. `next dev` evaluates this module again after
every edit; keeping them on globalThis means a reload reuses them instead of opening another connection (with its own
listeners) each time. Node.js runtime only: ioredis and Prisma's SQLite driver need TCP sockets and native code, which
the Edge runtime does not have.
*/
import {mkdirSync} from 'node:fs';
import {dirname, join, resolve} from 'node:path';
import {Redis} from 'ioredis';
import {guardedRedis, type RedisGuard} from 'connection-guard';
import {rateLimitConfig, type RateLimitConfig} from './stores.js';
import {createRateLimitPrisma, FallbackRateLimitStore, PrismaRateLimitStore, RedisRateLimitStore} from './stores.js';

export type Limiter = {
	readonly config: RateLimitConfig;
	readonly redis: RedisGuard<Redis>;
	readonly store: FallbackRateLimitStore;
};

// The checked-in SQL migrations of the example stores; in your app, wherever you copied prisma/migrations/ to.
const migrationsDir = join(process.cwd(), '..', 'rate-limit', 'prisma', 'migrations');

async function createLimiter(): Promise<Limiter> {
	const config = rateLimitConfig();
	// Lazy: the first request connects it, through the guard: one connect() however many requests arrive at once.
	const client = new Redis(config.redisUrl, {lazyConnect: true, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false});
	client.on('error', () => undefined); // The fallback store logs outages once; ioredis would log every retry.
	const redis = guardedRedis(client, {timeoutMs: 1000});

	if (config.databaseUrl.startsWith('file:')) {
		// SQLite creates the file, not its folder.
		mkdirSync(dirname(resolve(config.databaseUrl.slice('file:'.length))), {recursive: true});
	}

	const {prisma} = await createRateLimitPrisma(config.databaseUrl, migrationsDir);
	const prefix = 'rl:next:';
	const store = new FallbackRateLimitStore(
		new RedisRateLimitStore({redis, windowMs: config.windowMs, prefix, timeoutMs: 1000}),
		new PrismaRateLimitStore({prisma, windowMs: config.windowMs, prefix}),
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
