/*
A @nestjs/throttler storage on the example stores: Redis through the guard, with the Prisma fallback behind a circuit
breaker (examples/rate-limit/fallback-store.ts). A Redis outage is not a 500 on every request: the fallback counts on
from Redis's last counts, and Redis decides again once it is back. Only when both stores fail does `increment()` reject,
with `RateLimitStoreUnavailableError` (./throttler.guard.ts answers 503). It imports nothing from Nest: it has the shape
of the throttler's `ThrottlerStorage` (app.module.ts passes it as `storage`), and Nest calls its
`onApplicationShutdown()`.

How the throttler's semantics map onto the stores, which count fixed windows by default (its in-memory
ThrottlerStorageService keeps an expiry per hit instead; `algorithm` picks a sliding window or a token bucket for the
hits, each store then deciding against the throttler's `limit`):
- Hits are counted per throttler key and throttler name in a window of `ttl` that starts at the first hit counted
  (X-RateLimit-Reset says when it ends). Every process counts in the same window: at most `limit` hits are let through.
- The hit that takes a window over `limit` blocks the key for `blockDuration` from that hit, shorter or longer than
  `ttl`; hits over the limit at the same moment join that block. It also clears the count (in memory the hits before a
  block no longer count once it ends), so the first hit after the block counts 1 and is let through, however much of
  the window is left.
- During a block every hit is refused and none is counted: a refused hit that reached the store is taken back (if it
  opened a window there — another process, before it knew of the block — that window's end stays). Each process
  remembers the blocks it has seen until they end (`blockedKeys`), so their hits cost no round trip.
- `blockDuration: 0`, the throttler's "no block": refused until the window ends, and Retry-After says when that is.
- Blocks live in the stores (a second key per throttler key), so every process sees the same block. The block is read
  before the hit is counted: a hit that sees a block came after the one that started it, and one that does not came
  before it and is decided by its count.
- One round trip per request: on Redis the read and the count go out together, in order on one connection (both keys
  under one hash tag: one Cluster node); the hit that starts a block adds one. Every store call is bounded by the
  stores' deadlines; an outage goes to the fallback (one log line per outage).
- During an outage the fallback answers, with two limits: the read and the count are sent one after the other (its
  database may run two queries in either order), and a block does not clear the count (the fallback counts on from
  Redis's last count, fallback-store.ts, so a reset there would not hold): a block shorter than what is left of its
  window ends into a window still over the limit, and the client waits for the window's end. Never more hits let
  through, only longer blocks.
- `timeToExpire` and `timeToBlockExpire` come from one clock reading taken after the stores answered, capped at
  `ttl` and `blockDuration`, and rounded up to whole seconds once: Retry-After never exceeds the block, and a client
  that waits it out finds the block over.
*/
import {mkdirSync} from 'node:fs';
import {dirname, resolve} from 'node:path';
import {Redis, type RedisOptions} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {
	checkAlgorithm, checkKnownOptions, createRateLimitPrisma, FallbackRateLimitStore, PrismaRateLimitStore,
	RedisRateLimitStore, type Algorithm, type CircuitEvent, type PrismaRawClient, type RedisClient,
	type RedisConnectionSource,
} from './stores.js';

/** What `increment()` resolves with: @nestjs/throttler's `ThrottlerStorageRecord` (the two times in seconds). */
export type ThrottlerStorageRecord = {
	totalHits: number;
	timeToExpire: number;
	isBlocked: boolean;
	timeToBlockExpire: number;
};

/** An ioredis Sentinel configuration: the sentinels and the master's name, with any other ioredis option. */
export type SentinelConfiguration = RedisOptions & Required<Pick<RedisOptions, 'sentinels' | 'name'>>;

/**
Where Redis is:
- a URL (`redis://…`, `rediss://…`) or a Sentinel configuration (`{sentinels: [{host, port}], name: 'mymaster'}`): the
  storage makes an ioredis client (lazy, `autoResendUnfulfilledCommands: false`), and closes it on shutdown;
- a function that makes a client (an ioredis `Cluster`, say): called on first use and again after each shutdown; the
  storage attaches an `error` listener to what it returns and closes it on shutdown;
- your own client, or a `guardedRedis()` guard of one: used as it is and left open on shutdown (yours to close).
Clients are whatever RedisRateLimitStore takes as `redis`: ioredis and iovalkey `Redis` and `Cluster`, node-redis 5 and
6 clients and clusters.
*/
export type ThrottlerRedis = string | SentinelConfiguration | RedisClient | RedisConnectionSource | (() => RedisClient);

export type ThrottlerStorageLogger = {warn(message: string): void; log(message: string): void};

export type FallbackThrottlerStorageOptions = {
	redis: ThrottlerRedis;
	/**
	The fallback's database: a URL (`file:…` for SQLite, `postgres://…`), opened on first use with the rate-limit table
	created, and disconnected on shutdown; or your own Prisma client with that table (left connected).
	*/
	database: string | PrismaRawClient;
	/** Deadline for one Redis operation, in ms: past it, the fallback answers. @default 1000 */
	timeoutMs?: number;
	/** How long the fallback answers alone after Redis failed before a request tries Redis again, in ms. @default 5000 */
	cooldownMs?: number;
	/**
	How many blocks (keys) each process remembers until they end, answering their hits without a round trip (about
	300 bytes each; the oldest goes first, and its hits ask the stores again, which still know the block). @default 10_000
	*/
	blockedKeys?: number;
	/** Prepended to every key, in Redis and in the table. @default 'rl:nest:' */
	prefix?: string;
	/**
	How each throttler's hits are counted (examples/rate-limit/algorithms.ts): `'fixed-window'` (`limit` per `ttl` from
	the first hit), `'sliding-window'` (`limit` per any `ttl`, weighted) or `'token-bucket'` (a burst of `limit`, refilled
	at `limit` per `ttl`). Blocks (`blockDuration`) are fixed windows whatever it is. @default 'fixed-window'
	*/
	algorithm?: Algorithm;
	/** One line when an outage starts and one when it ends. @default console */
	logger?: ThrottlerStorageLogger;
};

/** Readiness of the two stores (`health()`): whether each answers a read within `timeoutMs`. */
export type ThrottlerStorageHealth = {redis: 'up' | 'down'; database: 'up' | 'down'};

/** A store's answer: the window's count and end. */
type Counted = Awaited<ReturnType<FallbackRateLimitStore['increment']>>;
type Closable = {close?: () => Promise<void>};
type RedisConnection = Closable & {source: RedisConnectionSource};
type DatabaseConnection = Closable & {client: PrismaRawClient};
/** One life of the storage's connections: made on first use, closed by `onApplicationShutdown()`. */
type Connections = {
	redis: RedisConnection;
	database: DatabaseConnection;
	stores: Map<string, FallbackRateLimitStore>;
	// Read by the readiness check: the stores' own reads, so every client the store takes is checked the same way.
	probes: {redis: RedisRateLimitStore; database: PrismaRateLimitStore};
};

const describe = (value: unknown) => value === null ? 'null' : typeof value;
const silent = {warn() {}, info() {}};

export class FallbackThrottlerStorage {
	private readonly connectRedis: () => RedisConnection;
	private readonly connectDatabase: () => DatabaseConnection;
	private readonly timeoutMs: number;
	private readonly cooldownMs: number;
	private readonly blockedKeys: number;
	private readonly prefix: string;
	private readonly logger: ThrottlerStorageLogger;
	private connections: Connections | undefined;
	// Blocks this process has seen, until they end: `${blockDuration}:${id}` → when the block and the window end.
	private readonly blocked = new Map<string, {until: number; windowEnd: number}>();
	// Refused hits being taken back; shutdown waits for them.
	private readonly pending = new Set<Promise<void>>();
	private outage = false;
	private readonly algorithm: Algorithm;

	constructor(options: FallbackThrottlerStorageOptions) {
		if (options === null || typeof options !== 'object') {
			throw new TypeError(`Expected \`options\` to be an object, got \`${describe(options)}\``);
		}

		// A misspelt option would be ignored.
		checkKnownOptions(options, ['redis', 'database', 'timeoutMs', 'cooldownMs', 'blockedKeys', 'prefix', 'logger', 'algorithm']);
		const {
			redis, database, timeoutMs = 1000, cooldownMs = 5000, blockedKeys = 10_000, prefix = 'rl:nest:', logger = console,
			algorithm = 'fixed-window',
		} = options;
		this.algorithm = checkAlgorithm(algorithm);
		if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
			throw new RangeError(`Expected \`timeoutMs\` to be a positive number of milliseconds, got \`${String(timeoutMs)}\``);
		}

		if (typeof cooldownMs !== 'number' || !Number.isFinite(cooldownMs) || cooldownMs < 0) {
			throw new RangeError(`Expected \`cooldownMs\` to be a non-negative number of milliseconds, got \`${String(cooldownMs)}\``);
		}

		if (!Number.isSafeInteger(blockedKeys) || blockedKeys < 0) {
			throw new RangeError(`Expected \`blockedKeys\` to be a non-negative integer, got \`${String(blockedKeys)}\``);
		}

		if (typeof prefix !== 'string' || prefix.length === 0) {
			throw new TypeError(`Expected \`prefix\` to be a non-empty string, got \`${String(prefix)}\``);
		}

		const {warn, log} = (logger ?? {}) as Partial<ThrottlerStorageLogger>;
		if (typeof warn !== 'function' || typeof log !== 'function') {
			throw new TypeError('Expected `logger` to have `warn()` and `log()` methods');
		}

		this.timeoutMs = timeoutMs;
		this.cooldownMs = cooldownMs;
		this.blockedKeys = blockedKeys;
		this.prefix = prefix;
		this.logger = logger;
		this.connectRedis = redisConnector(redis, timeoutMs);
		// A database that did not open is tried again as often as Redis is after a failure.
		this.connectDatabase = databaseConnector(database, cooldownMs, this.logger);
	}

	async increment(
		key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string,
	): Promise<ThrottlerStorageRecord> {
		checkIncrement(key, ttl, limit, blockDuration, throttlerName);
		// The throttler's key is a hash of class, handler, throttler name and client; the name is added for a custom
		// `generateKey` that leaves it out. The braces are a Redis Cluster hash tag: the hits and the block on one node.
		const id = `{${key}:${throttlerName}}`;
		const connections = this.open();
		const hits = this.store(connections, 'hits', ttl, limit);
		// A sliding window refuses for up to two windows (its previous one still weighs): Retry-After may say so.
		const waitCap = this.algorithm === 'sliding-window' ? 2 * ttl : ttl;
		if (blockDuration <= 0) {
			const counted = await hits.increment(id);
			const now = Date.now();
			const windowEnd = counted.resetTime?.getTime() ?? now + ttl;
			const timeToExpire = windowSeconds(windowEnd, now, waitCap);
			return counted.totalHits <= limit
				? {totalHits: counted.totalHits, timeToExpire, isBlocked: false, timeToBlockExpire: 0}
				// No block: refused until the window ends (in memory: until the oldest hit expires; here a fixed window), or,
				// for a sliding window or token bucket, until the store admits a hit again.
				: {totalHits: limit + 1, timeToExpire, isBlocked: true, timeToBlockExpire: Math.max(1, timeToExpire)};
		}

		const memoryKey = `${blockDuration}:${id}`;
		const remembered = this.blocked.get(memoryKey);
		if (remembered) {
			const now = Date.now();
			if (remembered.until > now) {
				return {
					totalHits: limit + 1,
					timeToExpire: windowSeconds(remembered.windowEnd, now, ttl),
					isBlocked: true,
					timeToBlockExpire: secondsLeft(remembered.until, now, blockDuration),
				};
			}

			this.blocked.delete(memoryKey);
		}

		const blocks = this.store(connections, 'block', blockDuration);
		// The block is read before the hit is counted: a hit that sees a block was counted after the hit that started it.
		// On Redis both go out together, in this order on one connection: one round trip. The fallback's database may run
		// two queries in either order (a pool), so while a store is on the fallback the count waits for the read.
		const sequential = hits.circuitOpen || blocks.circuitOpen;
		let block: Counted | undefined;
		let counted: Counted & {decidedBy: 'primary' | 'fallback'};
		if (sequential) {
			block = await blocks.get(id);
			counted = await hits.incrementDetailed(id);
		} else {
			[block, counted] = await Promise.all([blocks.get(id), hits.incrementDetailed(id)]);
		}

		let now = Date.now();
		const windowEnd = counted.resetTime?.getTime() ?? now + ttl;
		const blockEnd = block?.resetTime?.getTime();
		if (blockEnd !== undefined && blockEnd > now) {
			// Not in order when Redis failed during this call and both went to the fallback at once: then a hit its window
			// counted under the limit before the block began is let through by that count, whatever the read says.
			const ordered = sequential || (counted.decidedBy === 'primary' && !blocks.circuitOpen);
			const countedBefore = !ordered && counted.totalHits <= limit && windowEnd - ttl <= blockEnd - blockDuration;
			if (!countedBefore) {
				// Refused during a block: the in-memory storage records no hit then, so this one is taken back (a sliding
				// window or token bucket counted none when it refused it itself).
				if (this.algorithm === 'fixed-window' || counted.totalHits <= limit) {
					this.inBackground(hits.decrement(id));
				}

				return this.refuse(memoryKey, blockEnd, windowEnd, now, ttl, limit, blockDuration);
			}
		}

		if (counted.totalHits <= limit) {
			const timeToExpire = windowSeconds(windowEnd, now, ttl);
			return {totalHits: counted.totalHits, timeToExpire, isBlocked: false, timeToBlockExpire: 0};
		}

		// Over the limit with no block: this hit starts one (or joins the one a concurrent hit has just started), and on
		// Redis the count starts afresh for when it ends (sent together with the block, after it on one connection). Not on
		// the fallback: it would count on from Redis's last count there (fallback-store.ts), so a reset would not hold.
		const [started] = await Promise.all([
			blocks.increment(id),
			// A failure (Redis just went down) leaves the count, which then blocks until the window ends.
			counted.decidedBy === 'primary' ? (async () => hits.primary.resetKey(id))().catch(() => undefined) : undefined,
		]);
		now = Date.now();
		const startedEnd = started.resetTime?.getTime() ?? now + blockDuration;
		return this.refuse(memoryKey, startedEnd, windowEnd, now, ttl, limit, blockDuration);
	}

	/**
	Whether each store answers a read now (opening the connections if needed), each within `timeoutMs`: Redis through
	the guard (a frozen server, which keeps its connection, is down too), the database with a `SELECT`.
	*/
	async health(): Promise<ThrottlerStorageHealth> {
		const {probes} = this.open();
		const [redisUp, databaseUp] = await Promise.all([
			answersWithin(this.timeoutMs, async () => probes.redis.get('health')),
			answersWithin(this.timeoutMs, async () => probes.database.get('health')),
		]);
		return {redis: redisUp ? 'up' : 'down', database: databaseUp ? 'up' : 'down'};
	}

	/**
	Nest calls it when the app closes (`app.close()`, or a signal with `enableShutdownHooks()`): waits for the refused
	hits being taken back, stops the stores' timers, closes the Redis client and the database the storage opened, and
	forgets the blocks it remembered. The next call opens everything again: a storage that outlives its app (one testing
	module with two apps, an HMR reload) keeps working.
	*/
	async onApplicationShutdown(): Promise<void> {
		const {connections} = this;
		this.connections = undefined;
		this.blocked.clear();
		this.outage = false;
		await Promise.all(this.pending);
		if (connections) {
			const {stores, probes} = connections;
			await Promise.all([...stores.values(), probes.redis, probes.database].map(async store => store.shutdown()));
			await Promise.all([connections.redis.close?.(), connections.database.close?.()]);
		}
	}

	private open(): Connections {
		if (!this.connections) {
			const redis = this.connectRedis();
			const database = this.connectDatabase();
			const probe = {windowMs: 1000, prefix: `${this.prefix}health:`};
			this.connections = {
				redis, database, stores: new Map(), probes: {
					redis: new RedisRateLimitStore({...probe, redis: redis.source, timeoutMs: this.timeoutMs}),
					database: new PrismaRateLimitStore({...probe, prisma: database.client, cleanupIntervalMs: 0}),
				},
			};
		}

		return this.connections;
	}

	/**
	The store counting windows of `windowMs`: hits per `ttl` (with `algorithm`; a sliding window or token bucket decides
	at the store, so one per `limit` too), blocks per `blockDuration` (fixed windows).
	*/
	private store(
		{redis, database, stores}: Connections, kind: 'hits' | 'block', windowMs: number, limit?: number,
	): FallbackRateLimitStore {
		// A limit of 0 refuses every hit: a fixed window says so as well as any.
		const algorithm = kind === 'hits' && limit !== 0 ? this.algorithm : 'fixed-window';
		const name = algorithm === 'fixed-window' ? `${kind}:${windowMs}` : `${kind}:${algorithm}:${windowMs}:${limit}`;
		let store = stores.get(name);
		if (!store) {
			const prefix = `${this.prefix}${name}:`;
			const options = {windowMs, prefix, algorithm};
			store = new FallbackRateLimitStore(
				new RedisRateLimitStore({...options, redis: redis.source, timeoutMs: this.timeoutMs}),
				new PrismaRateLimitStore({...options, prisma: database.client, logger: prismaLogger(this.logger)}),
				// The outage is logged once for all the stores (circuit()), not once per store.
				{cooldownMs: this.cooldownMs, logger: silent, ...(algorithm === 'fixed-window' ? {} : {limit})},
			);
			store.on('circuit', event => {
				this.circuit(event);
			});
			stores.set(name, store);
		}

		return store;
	}

	private refuse(
		memoryKey: string, blockEnd: number, windowEnd: number, now: number,
		ttl: number, limit: number, blockDuration: number,
	): ThrottlerStorageRecord {
		// Never later than the block's length from now, however late the answer came or whose clock wrote it; never
		// earlier than the store's end either (that end is measured from when the store answered, not from now).
		const until = Math.min(blockEnd, now + blockDuration);
		if (until > now) {
			this.remember(memoryKey, until, windowEnd);
		}

		return {
			totalHits: limit + 1,
			timeToExpire: windowSeconds(windowEnd, now, ttl),
			isBlocked: true,
			timeToBlockExpire: Math.max(1, secondsLeft(until, now, blockDuration)),
		};
	}

	private remember(memoryKey: string, until: number, windowEnd: number): void {
		if (this.blockedKeys === 0) {
			return;
		}

		this.blocked.delete(memoryKey);
		if (this.blocked.size >= this.blockedKeys) {
			// The oldest goes first (a Map keeps insertion order): its hits ask the stores again, which still know the block.
			this.blocked.delete(this.blocked.keys().next().value!);
		}

		this.blocked.set(memoryKey, {until, windowEnd});
	}

	private inBackground(operation: Promise<void>): void {
		// A failure here is an outage, which the circuit logs once; the hit then stays counted, against the client.
		const settled = operation.catch(() => undefined);
		this.pending.add(settled);
		void settled.finally(() => this.pending.delete(settled));
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
}

/** Whole seconds until `end`, at most `capMs` (rounded up once), never negative. */
function secondsLeft(end: number, now: number, capMs: number): number {
	return Math.ceil(Math.min(capMs, Math.max(0, end - now)) / 1000);
}

/** X-RateLimit-Reset: the window's end; a window that has just ended is followed by a new one of `ttl`. */
function windowSeconds(windowEnd: number, now: number, ttl: number): number {
	return windowEnd > now ? secondsLeft(windowEnd, now, ttl) : Math.ceil(ttl / 1000);
}

function checkIncrement(
	key: unknown, ttl: unknown, limit: unknown, blockDuration: unknown, throttlerName: unknown,
): void {
	if (typeof key !== 'string' || key.length === 0) {
		throw new TypeError(`Expected \`key\` to be a non-empty string, got \`${describe(key)}\``);
	}

	if (typeof throttlerName !== 'string') {
		throw new TypeError(`Expected \`throttlerName\` to be a string, got \`${describe(throttlerName)}\``);
	}

	// Whole milliseconds: Redis sets expiries in them.
	if (!Number.isSafeInteger(ttl) || (ttl as number) <= 0) {
		throw new RangeError(`Expected \`ttl\` to be a positive integer number of milliseconds, got \`${String(ttl)}\``);
	}

	if (!Number.isSafeInteger(limit) || (limit as number) < 0) {
		throw new RangeError(`Expected \`limit\` to be a non-negative integer, got \`${String(limit)}\``);
	}

	if (!Number.isSafeInteger(blockDuration)) {
		throw new RangeError(`Expected \`blockDuration\` to be an integer number of milliseconds (0: no block), got \`${String(blockDuration)}\``);
	}
}

/** Resolves `true` if `check` succeeds within `ms`; `false` if it fails or is still running then (a frozen server). */
async function answersWithin(ms: number, check: () => Promise<unknown>): Promise<boolean> {
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<false>(resolve => {
		timer = setTimeout(resolve, ms, false);
	});
	try {
		return await Promise.race([check().then(() => true, () => false), deadline]);
	} finally {
		clearTimeout(timer);
	}
}

const isSource = (value: object): value is RedisConnectionSource =>
	typeof (value as Partial<RedisConnectionSource>).run === 'function'
	&& typeof (value as Partial<RedisConnectionSource>).ensureConnected === 'function';

const isSentinelConfiguration = (value: object): value is SentinelConfiguration =>
	Array.isArray((value as RedisOptions).sentinels) && typeof (value as {connect?: unknown}).connect !== 'function';

/** How the storage gets its Redis connection for each of its lives (see ThrottlerRedis). Checks `redis` now. */
function redisConnector(redis: ThrottlerRedis, timeoutMs: number): () => RedisConnection {
	// One command per request may wait for a reconnect once; the store's deadline bounds it. No resend after a reconnect:
	// the fallback has already counted what was in flight (examples/README.md).
	const defaults: RedisOptions = {lazyConnect: true, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false};
	const own = (client: RedisClient): RedisConnection => {
		// One log line per outage comes from the circuit; without a listener ioredis would log every retry.
		client.on('error', () => undefined);
		const guard = guardedRedis(client, {timeoutMs});
		return {source: guard, close: async () => guard.close()};
	};

	if (typeof redis === 'string') {
		if (redis.length === 0) {
			throw new RangeError('Expected `redis` to be a Redis URL, a client or a guard, got an empty string');
		}

		return () => own(new Redis(redis, defaults));
	}

	if (typeof redis === 'function') {
		return () => own(redis());
	}

	if (redis === null || typeof redis !== 'object') {
		throw new TypeError(`Expected \`redis\` to be a Redis URL, a Sentinel configuration, a client, a guard or a function that makes a client, got \`${describe(redis)}\``);
	}

	if (isSentinelConfiguration(redis)) {
		return () => own(new Redis({...defaults, ...redis}));
	}

	// Yours: the same client for every life of the storage, never closed by it. guardedRedis() names a wrong `client`.
	const source = isSource(redis) ? redis : guardedRedis(redis, {timeoutMs});
	return () => ({source});
}

/** How the storage gets its database for each of its lives. Checks `database` now. */
function databaseConnector(
	database: string | PrismaRawClient, retryMs: number, logger: ThrottlerStorageLogger,
): () => DatabaseConnection {
	if (typeof database === 'string') {
		if (database.length === 0) {
			throw new RangeError('Expected `database` to be a database URL or a Prisma client, got an empty string');
		}

		return () => {
			const lazy = new LazyPrisma(async () => {
				if (database.startsWith('file:')) {
					// SQLite creates the file, not its folder.
					mkdirSync(dirname(resolve(database.slice('file:'.length))), {recursive: true});
				}

				const {prisma} = await createRateLimitPrisma(database);
				return prisma;
			}, retryMs, logger);
			return {client: lazy, close: async () => lazy.disconnect()};
		};
	}

	if (database === null || typeof database !== 'object' || typeof database.$queryRaw !== 'function') {
		throw new TypeError(`Expected \`database\` to be a database URL or a Prisma client, got \`${describe(database)}\``);
	}

	return () => ({client: database});
}

/**
A Prisma client that opens the database on its first query (so Redis decides while the database is still down). After
a failed open, queries fail at once with that error for `retryMs`, then the next one tries again: one open at a time,
at most one per `retryMs`.
*/
class LazyPrisma implements PrismaRawClient {
	private opened: Promise<PrismaRawClient & {$disconnect(): Promise<void>}> | undefined;
	private failed: {at: number; error: unknown} | undefined;

	constructor(
		private readonly openDatabase: () => Promise<PrismaRawClient & {$disconnect(): Promise<void>}>,
		private readonly retryMs: number,
		private readonly logger: ThrottlerStorageLogger,
	) {}

	async $queryRaw<T = unknown>(query: TemplateStringsArray, ...values: unknown[]): Promise<T> {
		return (await this.client()).$queryRaw<T>(query, ...values);
	}

	async $executeRaw(query: TemplateStringsArray, ...values: unknown[]): Promise<number> {
		return (await this.client()).$executeRaw(query, ...values);
	}

	async $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number> {
		return (await this.client()).$executeRawUnsafe(query, ...values);
	}

	async disconnect(): Promise<void> {
		const client = await this.opened?.catch(() => undefined);
		this.opened = undefined;
		await client?.$disconnect();
	}

	private async client(): Promise<PrismaRawClient> {
		if (this.opened === undefined && this.failed !== undefined && Date.now() - this.failed.at < this.retryMs) {
			throw this.failed.error;
		}

		this.opened ??= this.openDatabase().then(client => {
			if (this.failed !== undefined) {
				this.failed = undefined;
				this.logger.log('The rate limiter\'s fallback database is open.');
			}

			return client;
		}, (error: unknown) => {
			this.opened = undefined;
			if (this.failed === undefined) {
				this.logger.warn(`The rate limiter's fallback database did not open; it is tried again every ${this.retryMs} ms while needed. (${String(error)})`);
			}

			this.failed = {at: Date.now(), error};
			throw error;
		});
		return this.opened;
	}
}

function prismaLogger(logger: ThrottlerStorageLogger) {
	return {
		warn(message: string, cause?: unknown) {
			logger.warn(cause === undefined ? message : `${message} (${String(cause)})`);
		},
		info(message: string) {
			logger.log(message);
		},
	};
}
