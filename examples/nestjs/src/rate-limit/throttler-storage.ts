/*
A @nestjs/throttler storage on the example stores: Redis through the guard, with the Prisma fallback behind a circuit
breaker (examples/rate-limit/fallback-store.ts). Unlike a storage that sends EVAL straight to ioredis, a Redis outage
is not a 500 on every request: the fallback counts on from Redis's last counts, and Redis decides again once it is
back. Only when both stores fail does `increment()` reject, with `RateLimitStoreUnavailableError` (see
./throttler.guard.ts for the 503).

The throttler's semantics, on fixed windows: a key gets `limit` hits per `ttl`; the first hit over it blocks the key for
`blockDuration` from that hit (Retry-After), even past the end of the window; `blockDuration` 0 blocks until the window
ends. Block state lives in the same stores (a second key per throttler key), so every process sees it; hits counted
before the one that started a block are not blocked by it, however the requests interleave. A block shorter
than what is left of its window ends into a window still over the limit, which blocks again at once (the in-memory
storage starts counting afresh instead).
*/
import {mkdirSync} from 'node:fs';
import {dirname, resolve} from 'node:path';
import {Inject, Injectable, Logger, type OnApplicationShutdown} from '@nestjs/common';
import type {ThrottlerStorage} from '@nestjs/throttler';
import {Redis} from 'ioredis';
import {guardedRedis, type RedisGuard} from 'connection-guard';
import {
	createRateLimitPrisma, FallbackRateLimitStore, PrismaRateLimitStore, RateLimitStoreUnavailableError,
	RedisRateLimitStore, type CircuitEvent, type RateLimitConfig, type RateLimitPrisma,
} from './stores.js';

/** Injection tokens: the settings (./stores.js `rateLimitConfig()`) and the folder of the stores' SQL migrations. */
export const RATE_LIMIT_CONFIG = Symbol('RATE_LIMIT_CONFIG');
export const RATE_LIMIT_MIGRATIONS = Symbol('RATE_LIMIT_MIGRATIONS');

/** What `ThrottlerStorage.increment()` resolves with (the two times in seconds). */
export type ThrottlerRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

type Connections = {redis: RedisGuard<Redis>; prisma: RateLimitPrisma};

const secondsUntil = (time: Date | undefined, now: number, otherwise: number): number =>
	time === undefined ? otherwise : Math.max(0, Math.ceil((time.getTime() - now) / 1000));

@Injectable()
export class FallbackThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
	private readonly logger = new Logger('RateLimit');
	private connections: Promise<Connections> | undefined;
	// One fallback store per window length (hits per `ttl`, blocks per `blockDuration`): the stores count fixed windows.
	private readonly stores = new Map<string, FallbackRateLimitStore>();
	private outage = false;

	constructor(
		@Inject(RATE_LIMIT_CONFIG) private readonly config: RateLimitConfig,
		@Inject(RATE_LIMIT_MIGRATIONS) private readonly migrationsDir: string,
	) {}

	async increment(
		key: string, ttl: number, limit: number, blockDuration: number, _throttlerName: string,
	): Promise<ThrottlerRecord> {
		// The throttler's key already holds the throttler's name (a hash of class, handler, name and client).
		const hits = await this.store('hits', ttl);
		const blocks = blockDuration > 0 ? await this.store('block', blockDuration) : undefined;
		// One round trip: ioredis pipelines the two commands on its one connection.
		const [counted, block] = await Promise.all([hits.increment(key), blocks?.get(key)]);
		const now = Date.now();
		const timeToExpire = secondsUntil(counted.resetTime, now, Math.ceil(ttl / 1000));
		const record = {totalHits: counted.totalHits, timeToExpire};
		if (block?.resetTime !== undefined && block.resetTime.getTime() > now) {
			// A block from an earlier window holds however low this window's count is. One that a concurrent hit over the
			// limit started in this window does not block the hits counted before that one.
			const blockedSince = block.resetTime.getTime() - blockDuration;
			const windowStart = (counted.resetTime?.getTime() ?? now + ttl) - ttl;
			if (counted.totalHits > limit || blockedSince < windowStart) {
				return {...record, isBlocked: true, timeToBlockExpire: secondsUntil(block.resetTime, now, 0)};
			}
		}

		if (counted.totalHits <= limit) {
			return {...record, isBlocked: false, timeToBlockExpire: 0};
		}

		if (blocks === undefined) {
			return {...record, isBlocked: true, timeToBlockExpire: timeToExpire};
		}

		// The first hit over the limit starts the block (concurrent ones land in the same block window).
		const started = await blocks.increment(key);
		const timeToBlockExpire = secondsUntil(started.resetTime, now, Math.ceil(blockDuration / 1000));
		return {...record, isBlocked: true, timeToBlockExpire};
	}

	/** `enableShutdownHooks()`: stop the stores' timers, close the Redis client through the guard, disconnect Prisma. */
	async onApplicationShutdown(): Promise<void> {
		const connections = await this.connections?.catch(() => undefined);
		await Promise.all([...this.stores.values()].map(async store => store.close()));
		this.stores.clear();
		await connections?.redis.close();
		await connections?.prisma.$disconnect();
	}

	private async store(kind: 'hits' | 'block', windowMs: number): Promise<FallbackRateLimitStore> {
		const name = `${kind}:${windowMs}`;
		const existing = this.stores.get(name);
		if (existing) {
			return existing;
		}

		const {redis, prisma} = await this.connect();
		// Another call may have made it while this one waited for the connections.
		if (this.stores.has(name)) {
			return this.stores.get(name)!;
		}

		const prefix = `rl:nest:${name}:`;
		const store = new FallbackRateLimitStore(
			new RedisRateLimitStore({redis, windowMs, prefix, timeoutMs: 1000}),
			new PrismaRateLimitStore({prisma, windowMs, prefix}),
			{cooldownMs: this.config.cooldownMs, logger: {warn() {}, info() {}}},
		);
		store.on('circuit', event => {
			this.circuit(event);
		});
		this.stores.set(name, store);
		return store;
	}

	/**
	One log line when a store's circuit opens, one when one closes: one pair per outage however many stores (window
	lengths) there are. A store nobody uses after the outage may stay open; it probes on its next call.
	*/
	private circuit(event: CircuitEvent): void {
		if ((event.state === 'open') === this.outage) {
			return;
		}

		this.outage = event.state === 'open';
		if (event.state === 'open') {
			this.logger.warn(`Redis store failed. Falling back to Prisma store for rate limiting. (${String(event.cause)})`);
		} else {
			this.logger.log('Redis store recovered. Back to Redis store for rate limiting.');
		}
	}

	/** The process's one Redis client and one Prisma client, made on first use; a failed start is retried later. */
	private async connect(): Promise<Connections> {
		this.connections ??= this.openConnections().catch((error: unknown) => {
			this.connections = undefined;
			const message = 'The rate limiter could not start: its fallback database did not open';
			throw new RateLimitStoreUnavailableError(message, {cause: error});
		});
		return this.connections;
	}

	private async openConnections(): Promise<Connections> {
		const {redisUrl, databaseUrl} = this.config;
		if (databaseUrl.startsWith('file:')) {
			// SQLite creates the file, not its folder.
			mkdirSync(dirname(resolve(databaseUrl.slice('file:'.length))), {recursive: true});
		}

		const {prisma} = await createRateLimitPrisma(databaseUrl, this.migrationsDir);
		// Lazy: the first request connects it, through the guard: one connect() however many requests arrive at once.
		// No resend after a reconnect: the fallback has already counted those hits (examples/README.md).
		const client = new Redis(redisUrl, {
			lazyConnect: true, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false,
		});
		client.on('error', () => undefined); // One log line per outage comes from the circuit; ioredis would log every retry.
		return {redis: guardedRedis(client, {timeoutMs: 1000}), prisma};
	}
}
