import {EventEmitter} from 'node:events';
import type {ClientRateLimitInfo, Options as MiddlewareOptions, Store} from 'express-rate-limit';
import {
	checkKey, consoleLogger, fromMiddleware, toConsumeResult,
	type ConsumeResult, type HandedCount, type StoreLogger, type StoreRateLimitInfo,
} from './options.js';
import {takeAnswerFromMemory} from './over-limit.js';

/**
A store with express-rate-limit's shape (both example stores are). The optional methods carry counts across an outage;
`PrismaRateLimitStore` has the fallback's, `RedisRateLimitStore` the primary's.
*/
export type RateLimitStore = Store & {
	/** Hits allowed per window, when the store knows (the example stores' in-memory block uses it). */
	limit?: number;
	/** `known`: what the primary last answered for the key; a fallback that takes it counts on from there. */
	increment(key: string, known?: StoreRateLimitInfo): Promise<StoreRateLimitInfo>;
	/** Fallback: take up to `max` keys' hits the primary does not have yet (see `PrismaRateLimitStore#takeUnsynced`). */
	takeUnsynced?(max: number): Promise<HandedCount[]>;
	/** Fallback: give back counts that could not be delivered. */
	returnUnsynced?(counts: readonly HandedCount[]): Promise<void>;
	/** Primary: resolves once it can take operations, and rejects at once when it knows it cannot. */
	whenReady?(): Promise<void>;
	/** Primary: whether its connection is up now, when it can say. */
	readonly ready?: boolean | undefined;
	/** Primary: add them; resolves with the counts it could not add. */
	addUnsynced?(counts: readonly HandedCount[]): Promise<HandedCount[]>;
};

export type FallbackLogger = StoreLogger;

export type FallbackRateLimitStoreOptions = {
	/** How long to skip the primary after it failed before one request probes it again, in ms. @default 5000 */
	cooldownMs?: number;
	/**
	Receives one line when an outage starts (with its cause) and one when it ends: pass your app's logger (pino, Nest's
	`Logger`, …). @default the console, one line each (the cause's code and message, no stack)
	*/
	logger?: FallbackLogger;
	/** Names used in the log lines. @default {primary: 'Redis', fallback: 'Prisma'} */
	names?: {primary?: string; fallback?: string};
	/**
	Hits allowed per window: `consume()` decides against it, and a store given no limit of its own takes it (its
	in-memory block needs one). express-rate-limit's `init()` gives every store the middleware's. @default Infinity
	*/
	limit?: number;
	/** The clock, in ms (tests move it past the cooldown). @default Date.now */
	now?: () => number;
	/**
	How many keys' last counts from the primary are kept, so that the fallback counts on from them during an outage
	(about 250 bytes a key, measured with 15-character keys; the oldest key goes first). `0` keeps none: the fallback
	then counts from zero.
	@default 10_000
	*/
	trackedKeys?: number;
};

// Keys handed back per statement batch, and batches per hand-back (the rest waits for the next one).
const handBackBatch = 500;
const maxHandBackBatches = 20;

/** Both stores failed: the request cannot be counted. `cause` is an AggregateError of the two failures. */
export class RateLimitStoreUnavailableError extends Error {
	override readonly name = 'RateLimitStoreUnavailableError';
}

/** Which store answered a call. */
export type DecidedBy = 'primary' | 'fallback';

type Decided<T> = {result: T; decidedBy: DecidedBy};

const resultOf = <T>({result}: Decided<T>): T => result;

/** A circuit transition: `open` when the primary failed (with its error), `closed` when a probe succeeded. */
export type CircuitEvent = {state: 'open'; cause: unknown} | {state: 'closed'};

/**
What the store emits, for metrics and alerting (`store.on('circuit', …)`): `circuit` on every transition (the log lines
stay), `decision` once per counted hit, with the store that answered.
*/
export type FallbackRateLimitStoreEvents = {
	circuit: [event: CircuitEvent];
	decision: [decidedBy: DecidedBy];
};

/** `increment()`'s answer plus which store gave it (for metrics, the demo and tests). */
export type DecidedRateLimitInfo = ClientRateLimitInfo & {decidedBy: DecidedBy};

/**
Uses the primary store (Redis) and, when it fails, answers from the fallback (Prisma) — a circuit breaker:

- **closed**: every call goes to the primary. Its first failure opens the circuit and logs one line,
  `[rate-limit] Redis store failed. Falling back to Prisma store for rate limiting.`, with the cause.
- **open**: calls skip the primary and go straight to the fallback — no per-request timeouts, no log spam.
- **probe**: once `cooldownMs` has passed — or, when the circuit opened on a lost connection, as soon as the primary
  says it is ready again — one call (single-flight; the others keep using the fallback) tries the primary.
  Success closes the circuit and logs `[rate-limit] Redis store recovered. Back to Redis store for rate limiting.` once;
  failure keeps it open for another cooldown, silently (same outage).

Transitions are also emitted as `circuit` events and each counted hit as a `decision` event, for metrics (see
`examples/observability/`).

If the fallback fails too, the call rejects with `RateLimitStoreUnavailableError`. express-rate-limit then fails closed
(the request gets an error) unless you set its `passOnStoreError: true` (fail open: the request is let through).

The limit holds across a switch, in both directions, for one process or many sharing Redis and the database:
- **Redis → fallback**: the store keeps the primary's last answer per key (`trackedKeys`, a bounded map) and passes it
  with each fallback increment; the fallback counts on from it, and from the highest any process handed it, not from 0.
- **fallback → Redis**: before the probe that closes the circuit, the hits counted during the outage that Redis does not
  have (`takeUnsynced()`, taken once across processes) are added to Redis's count (`addUnsynced()`), which is first
  raised to what it was when the outage began, in case Redis restarted empty.
- **in flight**: a command whose connection drops is released at once (no wait for `timeoutMs`) and, past its deadline,
  never sent late. A hit Redis counted but could not answer, and one ioredis resends after reconnecting
  (`autoResendUnfulfilledCommands`, default on: turn it off), counts twice — at most once per request in flight at the
  switch, and always against the client, never for it.
Measured (`__tests__/examples/outage-limits.test.ts`, limit 20): exactly 20 admitted across a network cut, a kill -9
with a restart, and a freeze, on one process and on two. A key whose last count this process no longer holds (past
`trackedKeys`), after Redis restarted empty, starts from what the fallback knows.

@example
```
const store = new FallbackRateLimitStore(redisStore, prismaStore, {cooldownMs: 5000});
app.use(rateLimit({windowMs: 60_000, limit: 100, store}));
```
*/
export class FallbackRateLimitStore extends EventEmitter<FallbackRateLimitStoreEvents> implements Store {
	readonly localKeys = false;
	limit: number;
	private openedAt: number | undefined;
	private readonly cooldownMs: number;
	private readonly logger: FallbackLogger;
	private readonly names: {primary: string; fallback: string};
	private readonly now: () => number;
	// One probe at a time: concurrent calls during a probe use the fallback instead of piling onto a sick primary.
	private probing = false;
	// The primary's last answer per key, oldest first (a Map keeps insertion order).
	private readonly known = new Map<string, StoreRateLimitInfo>();
	private readonly trackedKeys: number;
	// Fallback calls in flight, and whether hits they count after the circuit closed still need handing back.
	private fallbackCalls = 0;
	private stragglers = false;
	private openedDisconnected = false;

	constructor(
		readonly primary: RateLimitStore,
		readonly fallback: RateLimitStore,
		options: FallbackRateLimitStoreOptions = {},
	) {
		super();
		for (const [name, store] of [['primary', primary], ['fallback', fallback]] as const) {
			if (store === null || typeof store !== 'object' || typeof store.increment !== 'function') {
				throw new TypeError(`Expected \`${name}\` to be a rate-limit store with an \`increment()\` method`);
			}
		}

		const {
			// The clock read at each call: jest's fake timers installed after construction are followed too.
			cooldownMs = 5000, logger = consoleLogger, names = {}, limit = Number.POSITIVE_INFINITY, now = () => Date.now(),
			trackedKeys = 10_000,
		} = options;
		if (typeof cooldownMs !== 'number' || Number.isNaN(cooldownMs) || cooldownMs < 0) {
			throw new RangeError(`Expected \`cooldownMs\` to be a non-negative number, got \`${String(cooldownMs)}\``);
		}

		if (typeof limit !== 'number' || (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit <= 0))) {
			throw new RangeError(`Expected \`limit\` to be a positive integer, got \`${String(limit)}\``);
		}

		if (typeof trackedKeys !== 'number' || !Number.isInteger(trackedKeys) || trackedKeys < 0) {
			throw new RangeError(`Expected \`trackedKeys\` to be a non-negative integer, got \`${String(trackedKeys)}\``);
		}

		this.trackedKeys = trackedKeys;
		this.cooldownMs = cooldownMs;
		this.logger = logger;
		this.names = {primary: names.primary ?? 'Redis', fallback: names.fallback ?? 'Prisma'};
		this.limit = limit;
		this.now = now;
		for (const store of [primary, fallback]) {
			if (limit !== Number.POSITIVE_INFINITY && store.limit === Number.POSITIVE_INFINITY) {
				store.limit = limit;
			}
		}
	}

	/** The primary's prefix: the key space express-rate-limit sees. */
	get prefix(): string {
		return this.primary.prefix ?? '';
	}

	/** `true` while the circuit is open: the primary is skipped. */
	get circuitOpen(): boolean {
		return this.openedAt !== undefined;
	}

	init(options: MiddlewareOptions): void {
		this.limit = fromMiddleware(options, this.limit).limit;
		// express-rate-limit's type allows an async init(); the example stores' is synchronous.
		void this.primary.init?.(options);
		void this.fallback.init?.(options);
	}

	// Not `async`, and no `{result, decidedBy}` while the circuit is closed: one promise on the primary's answer. Under
	// abuse most hits are answered from the primary's memory, and then this wrapper was a third of each hit's cost
	// (`npm run bench -- --section abuse`, store level). A bad key, or a primary that throws, still rejects.
	increment(key: string): Promise<ClientRateLimitInfo> {
		let answer: Promise<ClientRateLimitInfo> | ClientRateLimitInfo;
		try {
			checkKey(key);
			if (this.openedAt !== undefined) {
				return this.count(key).then(resultOf);
			}

			takeAnswerFromMemory();
			answer = this.primary.increment(key);
		} catch (error) {
			return Promise.reject(error as Error);
		}

		// A key over its limit, answered from the primary's memory in that very call: its own promise, no `then` here.
		const fromMemory = takeAnswerFromMemory();
		if (fromMemory !== undefined) {
			this.emit('decision', 'primary');
			this.fromPrimary(key, fromMemory);
			return Promise.resolve(answer);
		}

		return Promise.resolve(answer).then(info => {
			this.emit('decision', 'primary');
			return this.fromPrimary(key, info);
		}, async (error: unknown) => (await this.afterPrimaryFailed(key, error)).result);
	}

	/** Like `increment()`, and says which store decided. */
	async incrementDetailed(key: string): Promise<DecidedRateLimitInfo> {
		checkKey(key);
		const {result, decidedBy} = await this.count(key);
		return {...result, decidedBy};
	}

	async decrement(key: string): Promise<void> {
		checkKey(key);
		await this.route(async store => store.decrement(key), false);
	}

	/**
	Reset `key` in both stores, and forget its last count from the primary: a key reset while the circuit is open must
	not come back with its old count once the primary decides again.
	*/
	async resetKey(key: string): Promise<void> {
		checkKey(key);
		this.known.delete(key);
		await this.both(async store => store.resetKey(key));
	}

	/**
	Reset every key of this limiter in both stores (each its own prefix: the Redis keys, the database rows), and forget
	the primary's last counts. Rejects if either store could not (the other has been reset).
	*/
	async resetAll(): Promise<void> {
		this.known.clear();
		await this.both(async store => store.resetAll?.());
	}

	/**
	Stop what both stores run by themselves (the Prisma store's sweep) and forget what they keep in memory. The clients
	they were given stay open, and the counts stay in Redis and the database.
	*/
	async shutdown(): Promise<void> {
		await this.both(async store => store.shutdown?.());
	}

	/** `operation` on both stores; rejects with the first failure once both have settled. */
	private async both(operation: (store: RateLimitStore) => Promise<unknown>): Promise<void> {
		const [primary, fallback] = await Promise.allSettled([operation(this.primary), operation(this.fallback)]);
		for (const outcome of [primary, fallback]) {
			if (outcome.status === 'rejected') {
				throw outcome.reason;
			}
		}
	}

	/** The key's count without adding a hit, from whichever store would count it now (`undefined`: none yet). */
	async get(key: string): Promise<ClientRateLimitInfo | undefined> {
		checkKey(key);
		// It may probe: a store that is only read (a throttler's block keys) must find its way back to the primary too.
		return (await this.route(async store => store.get?.(key), true)).result;
	}

	/** Count a hit and decide against `limit` (for use without express-rate-limit). */
	async consume(key: string): Promise<ConsumeResult & {decidedBy: DecidedBy}> {
		const info = await this.incrementDetailed(key);
		return {...toConsumeResult(info, this.limit), decidedBy: info.decidedBy};
	}

	// Every hit passes here. While the circuit is closed, one promise chain on the primary's answer: nested async
	// functions cost a measurable share of a Redis round trip (`npm run bench`, the fallback store's row).
	private count(key: string): Promise<Decided<ClientRateLimitInfo>> {
		if (this.openedAt !== undefined) {
			return this.routeAround(this.incrementOn(key), true).then(this.decided);
		}

		return Promise.resolve(this.primary.increment(key)).then(info => this.decided({
			result: this.fromPrimary(key, info),
			decidedBy: 'primary',
		}), async (error: unknown) => this.afterPrimaryFailed(key, error));
	}

	/** The primary failed a hit with the circuit closed: open it, and count the hit in the fallback. */
	private async afterPrimaryFailed(key: string, error: unknown): Promise<Decided<ClientRateLimitInfo>> {
		this.openCircuit(error);
		return this.decided(await this.useFallback(this.incrementOn(key), error));
	}

	/** `increment(key)` on either store: the fallback is told the primary's last answer, the primary's is kept. */
	private incrementOn(key: string): (store: RateLimitStore) => Promise<ClientRateLimitInfo> {
		return async store => store === this.fallback
			? store.increment(key, this.known.get(key))
			: this.fromPrimary(key, await store.increment(key));
	}

	private readonly decided = <T>(decided: Decided<T>): Decided<T> => {
		this.emit('decision', decided.decidedBy);
		return decided;
	};

	private route<T>(operation: (store: RateLimitStore) => Promise<T>, mayProbe: boolean): Promise<Decided<T>> {
		if (this.openedAt === undefined) {
			return operation(this.primary).then(result => ({result, decidedBy: 'primary'}), async (error: unknown) => {
				this.openCircuit(error);
				return this.useFallback(operation, error);
			});
		}

		return this.routeAround(operation, mayProbe);
	}

	/** The circuit is open: the fallback answers, or one call probes the primary. */
	private async routeAround<T>(
		operation: (store: RateLimitStore) => Promise<T>,
		mayProbe: boolean,
	): Promise<Decided<T>> {
		if (mayProbe && !this.probing && (this.now() - this.openedAt! >= this.cooldownMs || this.primaryBack())) {
			this.probing = true;
			try {
				// A primary that is still down says so before any hand-back work in the fallback's database.
				await this.primary.whenReady?.();
				await this.handBack();
				const result = await operation(this.primary);
				this.closeCircuit();
				return {result, decidedBy: 'primary'};
			} catch (error) {
				this.openedAt = this.now();
				// Ready yet failing (a database error while handing back, a slow server): wait for the cooldown now.
				this.openedDisconnected = this.primary.ready === false;
				return this.useFallback(operation, error);
			} finally {
				this.probing = false;
			}
		}

		return this.useFallback(operation);
	}

	/** The circuit opened while the primary's connection was down, and the primary says it is up again. */
	private primaryBack(): boolean {
		return this.openedDisconnected && this.primary.ready === true;
	}

	/**
	Keeps the primary's answer for `key` (bounded by `trackedKeys`) and returns it. A sliding window's or token bucket's
	answer from the primary's memory (a key over its limit) has no state: the last one the primary sent stays, as a
	refused hit changes none.
	*/
	private fromPrimary(key: string, info: StoreRateLimitInfo): ClientRateLimitInfo {
		if (this.trackedKeys === 0 || info.resetTime === undefined) {
			return info;
		}

		const last = this.known.get(key);
		if (last === undefined && this.known.size >= this.trackedKeys) {
			this.known.delete(this.known.keys().next().value!);
		}

		this.known.set(key, info.state === undefined && last?.state !== undefined ? {...info, state: last.state} : info);
		return info;
	}

	/**
	Before the primary decides again, give it the hits counted without it; a failure keeps the circuit open. One pass
	over what is there now: hits the fallback counts meanwhile (this process's calls in flight, other processes still in
	their outage) wait for the pass after the circuit closes, or for those processes' own.
	*/
	private async handBack(): Promise<void> {
		const {primary, fallback} = this;
		if (!fallback.takeUnsynced || !fallback.returnUnsynced || !primary.addUnsynced) {
			return;
		}

		for (let batch = 0; batch < maxHandBackBatches; batch++) {
			// eslint-disable-next-line no-await-in-loop
			const counts = await fallback.takeUnsynced(handBackBatch);

			// eslint-disable-next-line no-await-in-loop
			const failed = await primary.addUnsynced(counts);
			if (failed.length > 0) {
				// eslint-disable-next-line no-await-in-loop
				await fallback.returnUnsynced(failed);
				throw new Error(`${this.names.primary} took ${counts.length - failed.length} of ${counts.length} handed-back counts`);
			}

			if (counts.length < handBackBatch) {
				return;
			}
		}
	}

	/** The circuit closed while fallback calls were in flight: hand their hits back once the last one settles. */
	private handBackStragglers(): void {
		if (this.fallbackCalls > 0 || !this.stragglers || this.openedAt !== undefined) {
			return;
		}

		this.stragglers = false;
		this.handBack().catch((error: unknown) => {
			this.logger.warn(`[rate-limit] Could not hand the last ${this.names.fallback} counts back to ${this.names.primary}.`, error);
		});
	}

	private async useFallback<T>(
		operation: (store: RateLimitStore) => Promise<T>,
		primaryError?: unknown,
	): Promise<Decided<T>> {
		this.fallbackCalls++;
		try {
			return {result: await operation(this.fallback), decidedBy: 'fallback'};
		} catch (error) {
			throw new RateLimitStoreUnavailableError(
				`[rate-limit] ${this.names.primary} and ${this.names.fallback} stores both failed: the request cannot be rate limited.`,
				{cause: new AggregateError(primaryError === undefined ? [error] : [primaryError, error], 'Both rate-limit stores failed')},
			);
		} finally {
			this.fallbackCalls--;
			this.handBackStragglers();
		}
	}

	private openCircuit(cause: unknown): void {
		if (this.openedAt !== undefined) {
			return;
		}

		this.openedAt = this.now();
		// A lost connection says when it is back (the client's own reconnect); a frozen server says nothing.
		this.openedDisconnected = this.primary.ready === false;
		this.logger.warn(
			`[rate-limit] ${this.names.primary} store failed. Falling back to ${this.names.fallback} store for rate limiting.`,
			cause,
		);
		this.emit('circuit', {state: 'open', cause});
	}

	private closeCircuit(): void {
		if (this.openedAt === undefined) {
			return;
		}

		this.openedAt = undefined;
		this.stragglers = true;
		this.handBackStragglers();
		this.logger.info(`[rate-limit] ${this.names.primary} store recovered. Back to ${this.names.primary} store for rate limiting.`);
		this.emit('circuit', {state: 'closed'});
	}
}
