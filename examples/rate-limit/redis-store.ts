import type {ClientRateLimitInfo, Options as MiddlewareOptions, Store} from 'express-rate-limit';
import type {Cluster, Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {
	checkKey, checkStoreOptions, toConsumeResult, windowFromMiddleware, type ConsumeResult, type RateLimitStoreOptions,
} from './options.js';

/** A Redis client the store can use: ioredis `Redis` or `Cluster` (ioredis-mock in tests). */
export type RedisClient = Redis | Cluster;

/**
Where the store gets a connected client before each operation. A `guardedRedis(client)` guard is one; the demo plugs in
the racy variants it compares against through the same shape.
*/
export type RedisConnectionSource<C extends RedisClient = RedisClient> = {
	ensureConnected(options?: {timeoutMs?: number; signal?: AbortSignal}): Promise<C>;
};

export type RedisRateLimitStoreOptions = RateLimitStoreOptions & {
	/**
	The client, or what gives the store a connected one. A plain ioredis client is wrapped with `guardedRedis(client)`;
	pass your own guard to share it (and its `timeoutMs`) with the rest of your app.
	*/
	redis: RedisClient | RedisConnectionSource;
	/**
	Deadline for one whole operation (waiting for a ready client, then the script), in ms. When it passes the operation
	rejects, so a fallback store can answer: a server killed mid-command would otherwise hold the request while ioredis
	retries the command (`maxRetriesPerRequest`). @default 1000
	*/
	timeoutMs?: number;
};

/** An operation of the Redis store ran past its `timeoutMs`. */
export class RedisStoreTimeoutError extends Error {
	override readonly name = 'RedisStoreTimeoutError';
}

// Fixed window in one round trip: count the hit and start the window's expiry atomically. A single key, so the script
// runs on whichever Cluster node owns it.
const incrementScript = `
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}`;

// Never below zero, and never creates a key (an expired window stays expired).
const decrementScript = `
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0`;

const getScript = `
local hits = redis.call('GET', KEYS[1])
if not hits then
  return false
end
return {tonumber(hits), redis.call('PTTL', KEYS[1])}`;

type ScriptedClient = RedisClient & {
	connectionGuardRateLimitIncrement(key: string, windowMs: number): Promise<[number, number]>;
	connectionGuardRateLimitDecrement(key: string): Promise<number>;
	connectionGuardRateLimitGet(key: string): Promise<[number, number] | null>;
};

const scripted = new WeakSet<RedisClient>();

// ioredis's own script support: EVALSHA, with a transparent EVAL when the server answers NOSCRIPT (after a restart or a
// SCRIPT FLUSH). Defined once per client.
function withScripts(client: RedisClient): ScriptedClient {
	if (!scripted.has(client)) {
		client.defineCommand('connectionGuardRateLimitIncrement', {numberOfKeys: 1, lua: incrementScript});
		client.defineCommand('connectionGuardRateLimitDecrement', {numberOfKeys: 1, lua: decrementScript});
		client.defineCommand('connectionGuardRateLimitGet', {numberOfKeys: 1, lua: getScript});
		scripted.add(client);
	}

	return client as ScriptedClient;
}

/**
A fixed-window rate-limit store on Redis, with express-rate-limit's `Store` shape. It asks its connection source for a
ready client before each operation (`guard.ensureConnected({timeoutMs})`), so a cold start under load makes one
`connect()`, and a Redis outage surfaces as a prompt `ConnectionGuardError` a fallback store can act on.

Works unchanged on a Redis Cluster: each operation touches one key (`prefix + key`). A `{hash tag}` in your keys or
prefix is respected by Redis as usual; a tag in the prefix puts every key on one node.

@example
```
import {Redis} from 'ioredis';
import {rateLimit} from 'express-rate-limit';
import {guardedRedis} from 'connection-guard';

const redis = guardedRedis(new Redis({lazyConnect: true}));
app.use(rateLimit({windowMs: 60_000, limit: 100, store: new RedisRateLimitStore({redis, windowMs: 60_000})}));
// or simply: new RedisRateLimitStore({redis: new Redis({lazyConnect: true}), windowMs: 60_000})
```
*/
export class RedisRateLimitStore implements Store {
	readonly prefix: string;
	readonly localKeys = false;
	windowMs: number;
	readonly limit: number;
	private readonly redis: RedisConnectionSource;
	private readonly timeoutMs: number;

	constructor(options: RedisRateLimitStoreOptions) {
		const {windowMs, limit, prefix} = checkStoreOptions(options);
		const {redis, timeoutMs = 1000} = options;
		if (redis === null || typeof redis !== 'object') {
			throw new TypeError('Expected `redis` to be an ioredis client or a `guardedRedis(client)` guard');
		}

		if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs <= 0) {
			throw new RangeError(`Expected \`timeoutMs\` to be a positive number, got \`${String(timeoutMs)}\``);
		}

		this.windowMs = windowMs;
		this.limit = limit;
		this.prefix = prefix;
		// guardedRedis() throws a TypeError naming `client` for anything that is not a Redis client.
		this.redis = 'ensureConnected' in redis && typeof redis.ensureConnected === 'function' ? redis : guardedRedis(redis as RedisClient);
		this.timeoutMs = timeoutMs;
	}

	init(options: MiddlewareOptions): void {
		this.windowMs = windowFromMiddleware(options);
	}

	async increment(key: string): Promise<ClientRateLimitInfo> {
		const id = this.keyOf(key);
		return this.run(async client => {
			const [totalHits, ttl] = await client.connectionGuardRateLimitIncrement(id, this.windowMs);
			return {totalHits: Number(totalHits), resetTime: new Date(Date.now() + Number(ttl))};
		});
	}

	async decrement(key: string): Promise<void> {
		const id = this.keyOf(key);
		await this.run(async client => client.connectionGuardRateLimitDecrement(id));
	}

	async resetKey(key: string): Promise<void> {
		const id = this.keyOf(key);
		await this.run(async client => client.del(id));
	}

	async get(key: string): Promise<ClientRateLimitInfo | undefined> {
		const id = this.keyOf(key);
		return this.run(async client => {
			const found = await client.connectionGuardRateLimitGet(id);
			return found ? {totalHits: Number(found[0]), resetTime: new Date(Date.now() + Number(found[1]))} : undefined;
		});
	}

	/** Count a hit and decide against `limit` (for use without express-rate-limit). */
	async consume(key: string): Promise<ConsumeResult> {
		return toConsumeResult(await this.increment(key), this.limit);
	}

	private keyOf(key: string): string {
		return this.prefix + checkKey(key);
	}

	// One deadline for the whole operation. The guard bounds the wait for a ready client; the timer here also bounds the
	// command, which ioredis may hold and retry when the server dies mid-flight.
	private async run<T>(operation: (client: ScriptedClient) => Promise<T>): Promise<T> {
		let timer: NodeJS.Timeout | undefined;
		const deadline = new Promise<never>((_resolve, reject) => {
			timer = setTimeout(() => {
				reject(new RedisStoreTimeoutError(`Redis rate-limit operation did not finish within ${this.timeoutMs} ms`));
			}, this.timeoutMs);
		});
		const work = (async () => {
			const client = await this.redis.ensureConnected({timeoutMs: this.timeoutMs});
			return operation(withScripts(client));
		})();
		// If the deadline wins, the late outcome of `work` is dropped, never left unhandled.
		work.catch(() => undefined);
		try {
			return await Promise.race([work, deadline]);
		} finally {
			clearTimeout(timer);
		}
	}
}
