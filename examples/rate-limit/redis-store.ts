import {createHash} from 'node:crypto';
import type {ClientRateLimitInfo, Options as MiddlewareOptions, Store} from 'express-rate-limit';
import {guardedRedis, type RedisLikeClient} from 'connection-guard';
import {
	checkKey, checkStoreOptions, fromMiddleware, toConsumeResult,
	type ConsumeResult, type HandedCount, type RateLimitStoreOptions, type StoreRateLimitInfo,
} from './options.js';
import {
	rules, ruleSettings, windowStart, type Algorithm, type AlgorithmSettings, type AlgorithmState,
} from './algorithms.js';
import {OverLimitKeys} from './over-limit.js';

/**
A Redis client the store can use, recognised by shape (so this file needs neither client library's types): ioredis or
iovalkey `Redis` and `Cluster` (ioredis-mock in tests), or node-redis 5/6 `createClient()` and `createCluster()`.
*/
export type RedisClient = RedisLikeClient & (
	| {defineCommand(name: string, definition: {lua: string; numberOfKeys?: number}): void}
	| {evalSha(sha1: string, options?: {keys?: string[]; arguments?: string[]}): Promise<unknown>}
);

/**
What gives the store a connected client and runs its commands under a deadline: a `guardedRedis(client)` guard is one
(the demo plugs in the racy variants it compares against through the same shape).
*/
export type RedisConnectionSource<C extends RedisClient = RedisClient> = {
	run<T>(fn: (client: C) => T | PromiseLike<T>, options?: {timeoutMs?: number}): Promise<T>;
	ensureConnected(options?: {timeoutMs?: number}): Promise<C>;
	/** The client, when the source can say (a guard can): the store checks its options once. */
	readonly client?: C;
	/** Whether the client is ready now, when the source can say (a guard can). */
	readonly isReady?: boolean;
};

export type RedisRateLimitStoreOptions = RateLimitStoreOptions & {
	/**
	The client, or a `guardedRedis(client)` guard of it. A client is wrapped with `guardedRedis(client)`; pass your own
	guard to share it with the rest of your app.
	*/
	redis: RedisClient | RedisConnectionSource;
	/**
	Deadline for one whole operation (a ready client, then the script's reply), in ms: `guard.run()`'s. When it passes
	the operation rejects (`ConnectionGuardError`, code `TIMEOUT`), so a fallback store can answer; one whose connection
	drops first rejects at once (`CONNECTION_LOST`). @default 1000
	*/
	timeoutMs?: number;
	/**
	The clock a sliding window or token bucket counts on, in ms since the epoch, sent with each hit (the Prisma
	fallback counts on the same one; tests move it). The fixed window counts on Redis's TTLs. @default Date.now
	*/
	now?: () => number;
};

const sha1 = (lua: string) => createHash('sha1').update(lua).digest('hex');

type Script = {readonly name: string; readonly lua: string; readonly sha: string; readonly keys: number};
const script = (name: string, keys: number, lua: string): Script => ({name, lua, sha: sha1(lua), keys});

// Fixed window in one round trip. The window's time left is read first: a key with no time left (missing, or 0 ms)
// starts a new window at 1, so a hit in the last millisecond never counts in the ending window (rate-limit-redis 4.2.3
// fixed the same bug). A single key, so the script runs on whichever Cluster node owns it.
export const incrementScript = script('connectionGuardRateLimitIncrement', 1, `
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[1])
  return {1, tonumber(ARGV[1])}
end
return {redis.call('INCR', KEYS[1]), ttl}`);

// Never below zero, and never in a window with no time left (nor creates a key).
const decrementScript = script('connectionGuardRateLimitDecrement', 1, `
if redis.call('PTTL', KEYS[1]) <= 0 then
  return 0
end
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0`);

const getScript = script('connectionGuardRateLimitGet', 1, `
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then
  return false
end
return {tonumber(redis.call('GET', KEYS[1])), ttl}`);

// The key and what it absorbed of hand-overs (same slot).
const resetScript = script('connectionGuardRateLimitReset', 2, 'return redis.call(\'DEL\', KEYS[1], KEYS[2])');

// Hits counted elsewhere during an outage (fallback-store.ts), as that store's count of the window (ARGV[2]) of which
// Redis had ARGV[1] when it took over. Redis's count is first raised to that (gone if Redis restarted empty, or its
// window ended), then grows by what it has not absorbed yet. KEYS[2] remembers how much of the other count it absorbed,
// so an add that ran late (a frozen server answering after the caller gave up and handed the counts back) is not added
// twice. A live window keeps its expiry; otherwise the other store's window is taken (ARGV[3] ms from now).
const addUnsyncedScript = script('connectionGuardRateLimitAddUnsynced', 2, `
local ttl = redis.call('PTTL', KEYS[1])
local hits = 0
if ttl > 0 then
  hits = tonumber(redis.call('GET', KEYS[1]) or '0')
end
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
if ttl > 0 then
  redis.call('SET', KEYS[1], hits, 'KEEPTTL')
else
  ttl = tonumber(ARGV[3])
  redis.call('SET', KEYS[1], hits, 'PX', ttl)
end
redis.call('SET', KEYS[2], total, 'PX', ttl)
return hits`);

// The sliding window and the token bucket (algorithms.ts, the same arithmetic), one hash per key (`c`, `p`, `s`: the
// state's current, previous, since). ARGV: now, the current window's start, windowMs, limit, then a state to merge.
// Each returns {admitted (1/0), c, p, s}; the store works out totalHits and resetTime from that, as algorithms.ts does.
// A state is kept a second past the moment it stops mattering (on the caller's clock), for a caller whose clock runs
// behind Redis's: the state itself says when it is empty, the TTL only frees the memory.
const stateHead = `
local now, start, w, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function read()
  local v = redis.call('HMGET', KEYS[1], 'c', 'p', 's')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0
end`;
const slidingAt = `
local function at(c, p, s)
  if s >= start then return c, p, s end
  if s == start - w then return 0, c, start end
  return 0, 0, start
end
local function save(c, p, s)
  redis.call('HSET', KEYS[1], 'c', c, 'p', p, 's', s)
  redis.call('PEXPIRE', KEYS[1], math.max(1, s + 2 * w - now) + 1000)
end`;
const bucketAt = `
local function at(c, p, s)
  local elapsed = now - s
  if elapsed <= 0 then return c, 0, s end
  if elapsed >= w then return 0, 0, now end
  return math.max(0, c - elapsed * limit), 0, now
end
local function save(c, p, s)
  redis.call('HSET', KEYS[1], 'c', c, 'p', 0, 's', s)
  redis.call('PEXPIRE', KEYS[1], math.max(1, s + math.floor((c + limit - 1) / limit) - now) + 1000)
end`;
const mergeBody = `
local c, p, s = at(read())
local oc, op, os = at(tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))
if os > s then
  c, p, s = oc, op, os
elseif os == s then
  c, p = math.max(c, oc), math.max(p, op)
end
save(c, p, s)
return {1, c, p, s}`;
const decrementBody = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local c, p, s = at(read())
save(math.max(0, c - DECREMENT), p, s)
return 1`;

type StateScripts = {hit: Script; merge: Script; decrement: Script};
const stateScripts: Record<Exclude<Algorithm, 'fixed-window'>, StateScripts> = {
	'sliding-window': {
		hit: script('connectionGuardRateLimitSlidingHit', 1, `${stateHead}${slidingAt}
local c, p, s = at(read())
local count = math.floor((p * (w - math.max(0, now - s)) + w - 1) / w) + c
if count < limit then
  save(c + 1, p, s)
  return {1, c + 1, p, s}
end
return {0, c, p, s}`),
		merge: script('connectionGuardRateLimitSlidingMerge', 1, `${stateHead}${slidingAt}${mergeBody}`),
		decrement: script('connectionGuardRateLimitSlidingDecrement', 1, `${stateHead}${slidingAt}${decrementBody.replace('DECREMENT', '1')}`),
	},
	'token-bucket': {
		hit: script('connectionGuardRateLimitBucketHit', 1, `${stateHead}${bucketAt}
local c, p, s = at(read())
if c + w <= limit * w then
  save(c + w, 0, s)
  return {1, c + w, 0, s}
end
return {0, c, 0, s}`),
		merge: script('connectionGuardRateLimitBucketMerge', 1, `${stateHead}${bucketAt}
local c, p, s = at(read())
local oc, op, os = at(tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))
c, s = math.max(c, oc), math.max(s, os)
save(c, 0, s)
return {1, c, 0, s}`),
		decrement: script('connectionGuardRateLimitBucketDecrement', 1, `${stateHead}${bucketAt}${decrementBody.replace('DECREMENT', 'w')}`),
	},
};

const readStateScript = script('connectionGuardRateLimitReadState', 1, `
local v = redis.call('HMGET', KEYS[1], 'c', 'p', 's')
if not v[3] then return false end
return {tonumber(v[1]), tonumber(v[2]), tonumber(v[3])}`);

const scripts = [
	incrementScript, decrementScript, getScript, resetScript, addUnsyncedScript, readStateScript,
	...Object.values(stateScripts).flatMap(each => [each.hit, each.merge, each.decrement]),
];

/** The key of `id`'s sliding window or token bucket, in `id`'s Cluster slot (its own name would not share it). */
export function stateKeyOf(id: string, algorithm: Algorithm): string {
	const open = id.indexOf('{');
	const close = open === -1 ? -1 : id.indexOf('}', open + 1);
	return close > open + 1 ? `${id}:${algorithm}` : `{${id}}:${algorithm}`;
}

const toState = (reply: unknown[], from = 1): AlgorithmState => ({
	current: Number(reply[from]), previous: Number(reply[from + 1]), since: Number(reply[from + 2]),
});

const stateArguments = (settings: AlgorithmSettings): number[] => [
	settings.now, windowStart(settings.now, settings.windowMs), settings.windowMs, settings.limit,
];

/** The key beside `id` that remembers what it absorbed, in the same Cluster slot (same hash tag). */
function absorbedKeyOf(id: string): string {
	const open = id.indexOf('{');
	const close = open === -1 ? -1 : id.indexOf('}', open + 1);
	return close > open + 1 ? `${id}:absorbed` : `{${id}}:absorbed`;
}

const escapeGlob = (text: string) => text.replaceAll(/[*?[\]\\]/g, character => `\\${character}`);

/** `MATCH` patterns for every key of `prefix`: its counts, and the markers `absorbedKeyOf()` puts in `{…}`. */
// The keys, then the ones named after them in their slot (`:absorbed`, a sliding window's or token bucket's state).
const patternsOf = (prefix: string) => [`${escapeGlob(prefix)}*`, `{${escapeGlob(prefix)}*}:*`];

// The two client families, each as the few calls the store makes. Typed loosely on purpose: this file must compile
// with only one of the two client libraries installed.
type IORedisFamily = RedisLikeClient & {
	defineCommand(name: string, definition: {lua: string; numberOfKeys: number}): void;
	options?: {autoResendUnfulfilledCommands?: boolean; redisOptions?: {autoResendUnfulfilledCommands?: boolean}};
	isCluster?: boolean;
	nodes?: (role: 'master') => IORedisNode[];
} & Record<string, unknown>;
type IORedisNode = {
	scan(cursor: string, ...arguments_: Array<string | number>): Promise<[string, string[]]>;
	unlink(key: string): Promise<number>;
};
type NodeRedisFamily = RedisLikeClient & {
	evalSha(sha1: string, options: {keys: string[]; arguments: string[]}): Promise<unknown>;
	eval(lua: string, options: {keys: string[]; arguments: string[]}): Promise<unknown>;
	masters?: unknown[];
	nodeClient?: (node: unknown) => Promise<NodeRedisNode> | NodeRedisNode;
};
type NodeRedisNode = {
	scan(cursor: string, options: {MATCH: string; COUNT: number}): Promise<{cursor: string | number; keys: string[]}>;
	unlink(key: string): Promise<number>;
};

/** One server to empty in `resetAll()`: a Cluster's master, or the client itself. */
type ScannedServer = {
	/** One `SCAN` page of the keys matching `pattern`: the next cursor ('0' at the end) and the keys. */
	scan(cursor: string, pattern: string): Promise<[next: string, keys: string[]]>;
	unlink(key: string): Promise<unknown>;
};

/** How the store talks to one client family. */
type Commands = {
	/** Run `script` with `keys` and `arguments_` on `client`. */
	eval(client: RedisClient, script: Script, keys: string[], arguments_: Array<string | number>): Promise<unknown>;
	/** The servers that hold keys: a Cluster's masters, or the client. */
	masters(client: RedisClient): Promise<ScannedServer[]>;
};

const definedOn = new WeakSet<object>();

// ioredis's own script support: EVALSHA, with a transparent EVAL on NOSCRIPT (a restart, a SCRIPT FLUSH), per node.
const ioredisCommands: Commands = {
	// Not `async`, like the increment path that calls it: on the hot path every promise hop counts (bench/).
	eval(client, {name}, keys, arguments_) {
		const redis = client as IORedisFamily;
		if (!definedOn.has(redis)) {
			for (const each of scripts) {
				redis.defineCommand(each.name, {numberOfKeys: each.keys, lua: each.lua});
			}

			definedOn.add(redis);
		}

		return (redis[name] as (...parameters: Array<string | number>) => Promise<unknown>)(...keys, ...arguments_);
	},
	async masters(client) {
		const redis = client as IORedisFamily;
		const nodes = redis.isCluster === true && redis.nodes ? redis.nodes('master') : [redis as unknown as IORedisNode];
		return nodes.map(node => ({
			scan: async (cursor, pattern) => node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000),
			unlink: async key => node.unlink(key),
		}));
	},
};

// node-redis can only take scripts when a client is created (`scripts` with `defineScript`), not on one it is handed:
// EVALSHA, and EVAL on NOSCRIPT, which loads the script on that node for the next time.
const nodeRedisCommands: Commands = {
	async eval(client, {lua, sha}, keys, arguments_) {
		const redis = client as NodeRedisFamily;
		const options = {keys, arguments: arguments_.map(String)};
		try {
			return await redis.evalSha(sha, options);
		} catch (error) {
			if (!/^NOSCRIPT/.test(String((error as {message?: unknown} | null)?.message))) {
				throw error;
			}

			return redis.eval(lua, options);
		}
	},
	async masters(client) {
		const redis = client as NodeRedisFamily;
		const nodes = Array.isArray(redis.masters) && redis.nodeClient
			? await Promise.all(redis.masters.map(async master => redis.nodeClient!(master)))
			: [redis as unknown as NodeRedisNode];
		return nodes.map(node => ({
			async scan(cursor, pattern) {
				const page = await node.scan(cursor, {MATCH: pattern, COUNT: 1000});
				return [String(page.cursor), page.keys];
			},
			unlink: async key => node.unlink(key),
		}));
	},
};

function commandsFor(client: unknown): Commands | undefined {
	const candidate = client as Partial<IORedisFamily & NodeRedisFamily> | null;
	if (typeof candidate?.defineCommand === 'function') {
		return ioredisCommands;
	}

	return typeof candidate?.evalSha === 'function' && typeof candidate.eval === 'function' ? nodeRedisCommands : undefined;
}

const checkedClients = new WeakSet<object>();

/**
Said once per client, as process warnings: an ioredis client with `autoResendUnfulfilledCommands` on (its default)
sends a command again after reconnecting though the store gave up on it (`CONNECTION_LOST`) and a fallback counted the
hit, so Redis counts it twice; and a client without an `error` listener (ioredis logs every failed retry, node-redis
crashes the process). node-redis never resends: its commands in flight fail when their socket drops.
*/
function checkClient(client: RedisClient | undefined): void {
	if (client === undefined || checkedClients.has(client)) {
		return;
	}

	checkedClients.add(client);
	const {options} = client as IORedisFamily;
	const resend = options && 'redisOptions' in options ? options.redisOptions?.autoResendUnfulfilledCommands : options?.autoResendUnfulfilledCommands;
	if (commandsFor(client) === ioredisCommands && options !== undefined && resend !== false) {
		process.emitWarning(
			'RedisRateLimitStore: the ioredis client has `autoResendUnfulfilledCommands` on (its default). Commands in flight '
			+ 'when the connection drops are answered by the fallback and then sent again by ioredis, so those hits count '
			+ 'twice in Redis. Create the client with `autoResendUnfulfilledCommands: false` for the rate limiter.',
			{code: 'CONNECTION_GUARD_AUTO_RESEND'},
		);
	}

	// After the code that made the store has run: an app may attach its listener on the next line. (ioredis-mock, with
	// no connection to lose, has neither `status` nor `isOpen`.)
	queueMicrotask(() => {
		const emitter = client as {listenerCount?: (event: string) => number};
		if (('status' in client || 'isOpen' in client) && emitter.listenerCount?.('error') === 0) {
			process.emitWarning(
				'RedisRateLimitStore: the Redis client has no `error` listener. ioredis logs every failed reconnect then, and '
				+ 'node-redis crashes the process on the first one. Attach one: `client.on(\'error\', …)`.',
				{code: 'CONNECTION_GUARD_NO_ERROR_LISTENER'},
			);
		}
	});
}

const isSource = (value: object): value is RedisConnectionSource =>
	typeof (value as Partial<RedisConnectionSource>).run === 'function'
	&& typeof (value as Partial<RedisConnectionSource>).ensureConnected === 'function';

/**
A rate-limit store on Redis (a fixed window; a sliding window or token bucket with `algorithm`, algorithms.ts), with
express-rate-limit's `Store` shape, for ioredis, iovalkey and node-redis clients and clusters. Every operation goes
through `guard.run()`: a cold start under load makes one `connect()`, an outage surfaces at once as a
`ConnectionGuardError` a fallback store can act on, a frozen server is bounded by `timeoutMs`, and a command whose
connection drops is released at once (`CONNECTION_LOST`). Create ioredis clients with
`autoResendUnfulfilledCommands: false` so that ioredis does not send such a command again after reconnecting (the store
warns once per client otherwise).

Keys found over `limit` are answered from memory until their window ends, or for a sliding window or token bucket
until the instant the store said a hit is admitted again (`inMemoryBlock`; see over-limit.ts).

Works unchanged on a Redis Cluster: each operation touches one key (`prefix + key`; resetting it and handing counts back
also touch `{prefix + key}:absorbed`, in the same slot; a sliding window or token bucket keeps one hash,
`{prefix + key}:sliding-window` or `:token-bucket`). A `{hash tag}` in your keys or prefix is respected by Redis as
usual; a tag in the prefix puts every key on one node.

@example
```
import {Redis} from 'ioredis';
import {rateLimit} from 'express-rate-limit';

const client = new Redis({lazyConnect: true, autoResendUnfulfilledCommands: false});
client.on('error', () => {}); // the store reports failures; ioredis would log every retry
app.use(rateLimit({windowMs: 60_000, limit: 100, store: new RedisRateLimitStore({redis: client, windowMs: 60_000})}));
```
*/
export class RedisRateLimitStore implements Store {
	readonly prefix: string;
	readonly localKeys = false;
	windowMs: number;
	limit: number;
	private readonly redis: RedisConnectionSource;
	private readonly commands: Commands;
	private readonly runOptions: {timeoutMs: number};
	private readonly overLimit: OverLimitKeys | undefined;
	private readonly now: () => number;
	/** How hits are counted (`algorithm`): fixed here, a store's keys hold one kind of state. */
	readonly algorithm: Algorithm;

	constructor(options: RedisRateLimitStoreOptions) {
		const {windowMs, limit, prefix, inMemoryBlock, inMemoryBlockKeys, algorithm} = checkStoreOptions(options, ['redis', 'timeoutMs', 'now']);
		// The clock read at each call: jest's fake timers installed after construction are followed too.
		const {redis, timeoutMs = 1000, now = () => Date.now()} = options;
		if (typeof now !== 'function') {
			throw new TypeError('Expected `now` to be a function');
		}

		if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs <= 0) {
			throw new RangeError(`Expected \`timeoutMs\` to be a positive number, got \`${String(timeoutMs)}\``);
		}

		const source = redis !== null && typeof redis === 'object' && isSource(redis) ? redis : undefined;
		const client = source ? source.client : redis;
		const commands = commandsFor(client);
		if (commands === undefined || (source === undefined && client === undefined)) {
			const got = redis === null ? 'null' : typeof redis;
			throw new TypeError(`Expected \`redis\` to be an ioredis, iovalkey or node-redis client or cluster, or a \`guardedRedis()\` guard of one, got \`${got}\``);
		}

		this.windowMs = windowMs;
		this.limit = limit;
		this.prefix = prefix;
		this.algorithm = algorithm;
		this.now = now;
		this.commands = commands;
		this.redis = source ?? guardedRedis(client as RedisClient);
		this.runOptions = {timeoutMs};
		this.overLimit = inMemoryBlock ? new OverLimitKeys(inMemoryBlockKeys) : undefined;
		checkClient(this.redis.client);
	}

	init(options: MiddlewareOptions): void {
		({windowMs: this.windowMs, limit: this.limit} = fromMiddleware(options, this.limit));
	}

	// Not `async`: on the hot path every promise counts (an async wrapper adds one); a bad key still rejects, never
	// throws.
	increment(key: string): Promise<StoreRateLimitInfo> {
		let id: string;
		try {
			id = this.prefix + checkKey(key);
		} catch (error) {
			return Promise.reject(error as Error);
		}

		if (this.algorithm !== 'fixed-window') {
			return this.incrementState(id, this.algorithm);
		}

		const sentAt = Date.now();
		const known = this.overLimit?.hit(id, sentAt);
		if (known !== undefined) {
			return Promise.resolve(known);
		}

		const {windowMs} = this;
		return this.redis.run(client => this.commands.eval(client, incrementScript, [id], [windowMs]), this.runOptions)
			.then(reply => {
				const totalHits = Number((reply as unknown[])[0]);
				const ttl = Number((reply as unknown[])[1]);
				// Two ends, for two promises: `resetTime` (Retry-After, a NestJS block) from when the reply came, never
				// before Redis's own end, so a client that waits it out is let through; a block from memory from when the
				// script was sent, never past Redis's end, so memory never refuses a hit Redis would admit.
				const resetTime = new Date(Date.now() + ttl);
				this.overLimit?.note(id, totalHits, this.limit, sentAt + ttl, resetTime);
				return {totalHits, resetTime};
			});
	}

	async decrement(key: string): Promise<void> {
		const id = this.prefix + checkKey(key);
		if (this.overLimit?.takeBack(id)) {
			return;
		}

		if (this.algorithm === 'fixed-window') {
			await this.redis.run(async client => this.commands.eval(client, decrementScript, [id], []), this.runOptions);
			return;
		}

		const settings = this.settings(this.algorithm);
		await this.redis.run(async client => this.commands.eval(
			client, stateScripts[this.algorithm as Exclude<Algorithm, 'fixed-window'>].decrement,
			[stateKeyOf(id, this.algorithm)], stateArguments(settings),
		), this.runOptions);
	}

	/** The settings of a sliding window or token bucket now (a RangeError without a numeric `limit`). */
	private settings(algorithm: Algorithm): AlgorithmSettings {
		return ruleSettings(algorithm, this.windowMs, this.limit, this.now());
	}

	/** A hit on a sliding window or token bucket: one script, answered as algorithms.ts says. */
	private incrementState(id: string, algorithm: Exclude<Algorithm, 'fixed-window'>): Promise<StoreRateLimitInfo> {
		let settings: AlgorithmSettings;
		try {
			settings = this.settings(algorithm);
		} catch (error) {
			return Promise.reject(error as Error);
		}

		const known = this.overLimit?.hit(id, settings.now);
		if (known !== undefined) {
			return Promise.resolve(known);
		}

		const {limit} = settings;
		return this.redis.run(
			client => this.commands.eval(
				client, stateScripts[algorithm].hit, [stateKeyOf(id, algorithm)], stateArguments(settings),
			),
			this.runOptions,
		).then(reply => {
			const admitted = Number((reply as unknown[])[0]) === 1;
			const {totalHits, resetTime, state} = rules[algorithm].answer(toState(reply as unknown[]), admitted, settings);
			// Both on the clock sent with the hit: memory refuses until the instant the script said a hit is admitted.
			const reset = new Date(resetTime);
			this.overLimit?.note(id, totalHits, limit, resetTime, reset);
			return {totalHits, resetTime: reset, state};
		});
	}

	async resetKey(key: string): Promise<void> {
		const id = this.prefix + checkKey(key);
		this.overLimit?.forget(id);
		const keys = this.algorithm === 'fixed-window' ? [id, absorbedKeyOf(id)] : [stateKeyOf(id, this.algorithm), absorbedKeyOf(id)];
		await this.redis.run(async client => this.commands.eval(client, resetScript, keys, []), this.runOptions);
	}

	async get(key: string): Promise<ClientRateLimitInfo | undefined> {
		const id = this.prefix + checkKey(key);
		const known = this.overLimit?.peek(id, Date.now());
		if (known !== undefined) {
			return known;
		}

		if (this.algorithm !== 'fixed-window') {
			const settings = this.settings(this.algorithm);
			const state = await this.redis.run(
				async client => this.commands.eval(client, readStateScript, [stateKeyOf(id, this.algorithm)], []), this.runOptions,
			);
			if (!Array.isArray(state)) {
				return undefined;
			}

			const {totalHits, resetTime} = rules[this.algorithm as Exclude<Algorithm, 'fixed-window'>].peek(toState(state, 0), settings);
			return {totalHits, resetTime: new Date(resetTime)};
		}

		const reply = await this.redis.run(async client => this.commands.eval(client, getScript, [id], []), this.runOptions);
		if (!Array.isArray(reply)) {
			return undefined;
		}

		const [totalHits, ttl] = reply.map(Number) as [number, number];
		return {totalHits, resetTime: new Date(Date.now() + ttl)};
	}

	/**
	Delete every key of this store (its `prefix`) in Redis, on every master of a Cluster, with `SCAN` and `UNLINK` (each
	page within `timeoutMs`), and forget the keys answered from memory. Other stores' keys, and other prefixes, stay.
	*/
	async resetAll(): Promise<void> {
		this.overLimit?.clear();
		const masters = await this.redis.run(async client => this.commands.masters(client), this.runOptions);
		for (const server of masters) {
			for (const pattern of patternsOf(this.prefix)) {
				let cursor = '0';
				do {
					// One page at a time, each under its own deadline: a large keyspace is never one long call. One UNLINK per
					// key: a Cluster node refuses one for keys of different slots.
					// eslint-disable-next-line no-await-in-loop
					cursor = await this.redis.run(async () => {
						const [next, keys] = await server.scan(cursor, pattern);
						await Promise.all(keys.map(async found => server.unlink(found)));
						return next;
					}, this.runOptions);
				} while (cursor !== '0');
			}
		}
	}

	/**
	Stop what the store runs by itself (nothing, for this store) and forget the keys answered from memory. The client
	stays open (close it with `guard.close()`), and the counts stay in Redis for the other processes: unlike
	express-rate-limit's `MemoryStore`, `shutdown()` resets nothing.
	*/
	async shutdown(): Promise<void> {
		this.overLimit?.clear();
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
		await this.redis.ensureConnected(this.runOptions);
	}

	/**
	Add hits another store counted while Redis was unreachable (`PrismaRateLimitStore#takeUnsynced()`): each key ends at
	least at what Redis had when the other store took over, plus what was counted there since. Resolves with the counts
	it could not add, for the caller to give back.
	*/
	async addUnsynced(counts: readonly HandedCount[]): Promise<HandedCount[]> {
		const now = Date.now();
		const added = await Promise.allSettled(counts.map(async ({key, totalHits, synced, resetTime, state}) => {
			const id = this.prefix + checkKey(key);
			this.overLimit?.forget(id);
			if (this.algorithm !== 'fixed-window') {
				const algorithm = this.algorithm as Exclude<Algorithm, 'fixed-window'>;
				if (state === undefined) {
					throw new TypeError(`Expected a state to merge into a ${algorithm}`);
				}

				const settings = this.settings(algorithm);
				return this.redis.run(async client => this.commands.eval(
					client, stateScripts[algorithm].merge, [stateKeyOf(id, algorithm)],
					[...stateArguments(settings), state.current, state.previous, state.since],
				), this.runOptions);
			}

			return this.redis.run(async client => this.commands.eval(
				client, addUnsyncedScript, [id, absorbedKeyOf(id)], [synced, totalHits, Math.max(1, resetTime.getTime() - now)],
			), this.runOptions);
		}));
		return counts.filter((_, index) => added[index]!.status === 'rejected');
	}
}
