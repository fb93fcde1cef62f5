import type {ClientRateLimitInfo, Options as MiddlewareOptions, Store} from 'express-rate-limit';
import type {Cluster, Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {DeadlineSweeper} from './deadlines.js';
import {
	checkKey, checkStoreOptions, toConsumeResult, windowFromMiddleware,
	type ConsumeResult, type HandedCount, type RateLimitStoreOptions,
} from './options.js';

/** A Redis client the store can use: ioredis `Redis` or `Cluster` (ioredis-mock in tests). */
export type RedisClient = Redis | Cluster;

/**
Where the store gets a connected client before each operation. A `guardedRedis(client)` guard is one; the demo plugs in
the racy variants it compares against through the same shape.
*/
export type RedisConnectionSource<C extends RedisClient = RedisClient> = {
	ensureConnected(options?: {timeoutMs?: number; signal?: AbortSignal}): Promise<C>;
	/** The client, when the source can say (a guard can): the store checks its options once. */
	readonly client?: C;
	/** Whether the client is ready now, when the source can say (a guard can). */
	readonly isReady?: boolean;
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

/** The connection an operation's command was sent on closed before Redis answered. */
export class RedisStoreConnectionLostError extends Error {
	override readonly name = 'RedisStoreConnectionLostError';
}

// Fixed window in one round trip: count the hit and start the window's expiry atomically. A single key, so the script
// runs on whichever Cluster node owns it.
export const incrementScript = `
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

// Hits counted elsewhere during an outage (fallback-store.ts), as that store's count of the window (ARGV[2]) of which
// Redis had ARGV[1] when it took over. Redis's count is first raised to that (gone if Redis restarted empty), then
// grows by what it has not absorbed yet. KEYS[2] remembers how much of the other count it absorbed, so an add that ran
// late (a frozen server answering after the caller gave up and handed the counts back) is not added twice. A live
// window keeps its expiry; a missing one gets the other store's (ARGV[3] ms from now).
const addUnsyncedScript = `
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
local synced = tonumber(ARGV[1])
local total = tonumber(ARGV[2])
local absorbed = tonumber(redis.call('GET', KEYS[2]) or '0')
if absorbed >= total then
  return hits
end
if hits < synced then
  hits = synced
end
hits = hits + total - math.max(synced, absorbed)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[1], hits, 'KEEPTTL')
else
  ttl = tonumber(ARGV[3])
  redis.call('SET', KEYS[1], hits, 'PX', ttl)
end
redis.call('SET', KEYS[2], total, 'PX', ttl)
return hits`;

/** The key beside `id` that remembers what it absorbed, in the same Cluster slot (same hash tag). */
function absorbedKeyOf(id: string): string {
	const open = id.indexOf('{');
	const close = open === -1 ? -1 : id.indexOf('}', open + 1);
	return close > open + 1 ? `${id}:absorbed` : `{${id}}:absorbed`;
}

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
	connectionGuardRateLimitAddUnsynced(
		key: string, absorbedKey: string, synced: number, total: number, ttlMs: number,
	): Promise<number>;
};

const scripted = new WeakSet<RedisClient>();

// Per client, the stores with commands in flight on it: one `close` listener per client however many stores use it.
const storesByClient = new WeakMap<RedisClient, Set<DeadlineSweeper>>();

/** When `client`'s connection closes, `sweeper` rejects the operations whose commands went out on it. */
function releaseOnClose(client: RedisClient, sweeper: DeadlineSweeper): void {
	let sweepers = storesByClient.get(client);
	if (!sweepers) {
		const watching = new Set<DeadlineSweeper>();
		sweepers = watching;
		storesByClient.set(client, watching);
		client.on('close', () => {
			for (const each of watching) {
				each.rejectSent();
			}
		});
	}

	sweepers.add(sweeper);
}

const resendChecked = new WeakSet<RedisClient>();

/**
A command in flight when the connection drops is released by the store at once (the fallback counts that hit); with
ioredis's default `autoResendUnfulfilledCommands: true` the client would also send it again after reconnecting, and
Redis would count the hit a second time. Said once per client, as a process warning.
*/
function checkResend(client: RedisClient | undefined): void {
	if (client === undefined || resendChecked.has(client)) {
		return;
	}

	resendChecked.add(client);
	type ResendOption = {autoResendUnfulfilledCommands?: boolean};
	const {options} = client as {options?: ResendOption & {redisOptions?: ResendOption}};
	const resend = options && 'redisOptions' in options ? options.redisOptions?.autoResendUnfulfilledCommands : options?.autoResendUnfulfilledCommands;
	if (options !== undefined && resend !== false) {
		process.emitWarning(
			'RedisRateLimitStore: the ioredis client has `autoResendUnfulfilledCommands` on (its default). Commands in flight '
			+ 'when the connection drops are answered by the fallback and then sent again by ioredis, so those hits count '
			+ 'twice in Redis. Create the client with `autoResendUnfulfilledCommands: false` for the rate limiter.',
			{code: 'CONNECTION_GUARD_AUTO_RESEND'},
		);
	}
}

const noop = () => undefined;

const toInfo = ([totalHits, ttl]: [number, number]): ClientRateLimitInfo =>
	({totalHits: Number(totalHits), resetTime: new Date(Date.now() + Number(ttl))});

// ioredis's own script support: EVALSHA, with a transparent EVAL when the server answers NOSCRIPT (after a restart or a
// SCRIPT FLUSH). Defined once per client.
function withScripts(client: RedisClient): ScriptedClient {
	if (!scripted.has(client)) {
		client.defineCommand('connectionGuardRateLimitIncrement', {numberOfKeys: 1, lua: incrementScript});
		client.defineCommand('connectionGuardRateLimitDecrement', {numberOfKeys: 1, lua: decrementScript});
		client.defineCommand('connectionGuardRateLimitGet', {numberOfKeys: 1, lua: getScript});
		client.defineCommand('connectionGuardRateLimitAddUnsynced', {numberOfKeys: 2, lua: addUnsyncedScript});
		scripted.add(client);
	}

	return client as ScriptedClient;
}

/**
A fixed-window rate-limit store on Redis, with express-rate-limit's `Store` shape. It asks its connection source for a
ready client before each operation (`guard.ensureConnected({timeoutMs})`), so a cold start under load makes one
`connect()`, and a Redis outage surfaces as a prompt `ConnectionGuardError` a fallback store can act on.

A command whose connection drops before Redis answers is released at once (`RedisStoreConnectionLostError`), so a
fallback answers without waiting for `timeoutMs`; create the client with `autoResendUnfulfilledCommands: false` so that
ioredis does not send it again after reconnecting (the store warns once per client otherwise).

Works unchanged on a Redis Cluster: each operation touches one key (`prefix + key`; handing counts back also writes
`{prefix + key}:absorbed`, in the same slot). A `{hash tag}` in your keys or prefix is respected by Redis as usual; a
tag in the prefix puts every key on one node.

@example
```
import {Redis} from 'ioredis';
import {rateLimit} from 'express-rate-limit';
import {guardedRedis} from 'connection-guard';

const redis = guardedRedis(new Redis({lazyConnect: true, autoResendUnfulfilledCommands: false}));
app.use(rateLimit({windowMs: 60_000, limit: 100, store: new RedisRateLimitStore({redis, windowMs: 60_000})}));
// or simply: new RedisRateLimitStore({redis: new Redis({lazyConnect: true, ...}), windowMs: 60_000})
```
*/
export class RedisRateLimitStore implements Store {
	readonly prefix: string;
	readonly localKeys = false;
	windowMs: number;
	readonly limit: number;
	private readonly redis: RedisConnectionSource;
	private readonly connectOptions: {timeoutMs: number};
	private readonly deadlines: DeadlineSweeper;
	private watchedClient: RedisClient | undefined;

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
		this.connectOptions = {timeoutMs};
		this.deadlines = new DeadlineSweeper(
			timeoutMs,
			() => new RedisStoreTimeoutError(`Redis rate-limit operation did not finish within ${timeoutMs} ms`),
			() => new RedisStoreConnectionLostError('The Redis connection closed before the rate-limit operation was answered'),
		);
		checkResend(this.redis.client);
	}

	init(options: MiddlewareOptions): void {
		this.windowMs = windowFromMiddleware(options);
	}

	// Not `async`: on the hot path every promise counts (an async wrapper adds one); a bad key still rejects, never
	// throws.
	increment(key: string): Promise<ClientRateLimitInfo> {
		return this.run(key, (client, id) => client.connectionGuardRateLimitIncrement(id, this.windowMs), toInfo);
	}

	async decrement(key: string): Promise<void> {
		await this.run(key, async (client, id) => client.connectionGuardRateLimitDecrement(id), noop);
	}

	async resetKey(key: string): Promise<void> {
		await this.run(key, async (client, id) => client.del(id), noop);
	}

	async get(key: string): Promise<ClientRateLimitInfo | undefined> {
		return this.run(
			key,
			async (client, id) => client.connectionGuardRateLimitGet(id),
			found => found ? toInfo(found) : undefined,
		);
	}

	/** Count a hit and decide against `limit` (for use without express-rate-limit). */
	async consume(key: string): Promise<ConsumeResult> {
		return toConsumeResult(await this.increment(key), this.limit);
	}

	/** `true`/`false` when the connection source says whether the client is ready now (a guard does), else `undefined`. */
	get ready(): boolean | undefined {
		return this.redis.isReady;
	}

	/**
	Resolve once the client is ready (connecting it if needed), within `timeoutMs`; while Redis is known to be down it
	rejects at once, as the guard's `ensureConnected()` fails fast.
	*/
	async whenReady(): Promise<void> {
		await this.redis.ensureConnected(this.connectOptions);
	}

	/**
	Add hits another store counted while Redis was unreachable (`PrismaRateLimitStore#takeUnsynced()`): each key ends at
	least at what Redis had when the other store took over, plus what was counted there since. Resolves with the counts
	it could not add, for the caller to give back.
	*/
	async addUnsynced(counts: readonly HandedCount[]): Promise<HandedCount[]> {
		const now = Date.now();
		const added = await Promise.allSettled(counts.map(async ({key, totalHits, synced, resetTime}) => this.run(
			key,
			async (client, id) => client.connectionGuardRateLimitAddUnsynced(
				id, absorbedKeyOf(id), synced, totalHits, Math.max(1, resetTime.getTime() - now),
			),
			noop,
		)));
		return counts.filter((_, index) => added[index]!.status === 'rejected');
	}

	// One deadline for the whole operation: `ensureConnected({timeoutMs})` (on a ready guard, an already-resolved
	// promise), then the command, which ioredis may hold and retry when the server dies mid-flight.
	private run<R, T>(
		key: string,
		operation: (client: ScriptedClient, id: string) => Promise<R>,
		map: (reply: R) => T,
	): Promise<T> {
		return new Promise<T>((resolve, reject) => {
			let id: string;
			try {
				// A bad key is rejected before anything is sent.
				id = this.prefix + checkKey(key);
			} catch (error) {
				reject(error);
				return;
			}

			const watch = this.deadlines.add(reject);
			const work = this.redis.ensureConnected(this.connectOptions).then(client => {
				// Past the deadline the caller has its answer (maybe from a fallback): a late command would count twice.
				if (!this.deadlines.watching(watch)) {
					throw new RedisStoreTimeoutError('The rate-limit operation was abandoned before its command was sent');
				}

				if (client !== this.watchedClient) {
					this.watchedClient = client;
					releaseOnClose(client, this.deadlines);
				}

				// From here on the command is on this connection: if it closes, waiting for the deadline gains nothing.
				watch.sent = true;
				return operation(withScripts(client), id);
			});
			// If the deadline won, the late outcome is dropped here: settling twice is a no-op, never an unhandled rejection.
			work.then(reply => {
				this.deadlines.delete(watch);
				try {
					resolve(map(reply));
				} catch (error) {
					reject(error);
				}
			}, (error: unknown) => {
				this.deadlines.delete(watch);
				reject(error);
			});
		});
	}
}
