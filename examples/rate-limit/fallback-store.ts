import {EventEmitter} from 'node:events';
import type {ClientRateLimitInfo, Options as MiddlewareOptions, Store} from 'express-rate-limit';
import {checkKey, toConsumeResult, type ConsumeResult} from './options.js';

/** A store with express-rate-limit's shape (both example stores are). */
export type RateLimitStore = Store & {increment(key: string): Promise<ClientRateLimitInfo>};

export type FallbackLogger = {
	warn(message: string, cause?: unknown): void;
	info(message: string): void;
};

export type FallbackRateLimitStoreOptions = {
	/** How long to skip the primary after it failed before one request probes it again, in ms. @default 5000 */
	cooldownMs?: number;
	/** Receives one line when an outage starts and one when it ends. @default console */
	logger?: FallbackLogger;
	/** Names used in the log lines. @default {primary: 'Redis', fallback: 'Prisma'} */
	names?: {primary?: string; fallback?: string};
	/** Hits allowed per window, used by `consume()`. @default Infinity */
	limit?: number;
	/** The clock, in ms (tests move it past the cooldown). @default Date.now */
	now?: () => number;
};

/** Both stores failed: the request cannot be counted. `cause` is an AggregateError of the two failures. */
export class RateLimitStoreUnavailableError extends Error {
	override readonly name = 'RateLimitStoreUnavailableError';
}

/** Which store answered a call. */
export type DecidedBy = 'primary' | 'fallback';

type Decided<T> = {result: T; decidedBy: DecidedBy};

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
- **probe**: once `cooldownMs` has passed, one call (single-flight; the others keep using the fallback) tries the
primary.
  Success closes the circuit and logs `[rate-limit] Redis store recovered. Back to Redis store for rate limiting.` once;
  failure keeps it open for another cooldown, silently (same outage).

Transitions are also emitted as `circuit` events and each counted hit as a `decision` event, for metrics (see
`examples/observability/`).

If the fallback fails too, the call rejects with `RateLimitStoreUnavailableError`. express-rate-limit then fails closed
(the request gets an error) unless you set its `passOnStoreError: true` (fail open: the request is let through).

Counts live in whichever store answered: during an outage the fallback counts from zero, so a client can get up to one
extra window's worth of hits across a switch. That is the usual trade-off of a fallback limiter.

@example
```
const store = new FallbackRateLimitStore(redisStore, prismaStore, {cooldownMs: 5000});
app.use(rateLimit({windowMs: 60_000, limit: 100, store}));
```
*/
export class FallbackRateLimitStore extends EventEmitter<FallbackRateLimitStoreEvents> implements Store {
	readonly localKeys = false;
	readonly limit: number;
	private openedAt: number | undefined;
	private readonly cooldownMs: number;
	private readonly logger: FallbackLogger;
	private readonly names: {primary: string; fallback: string};
	private readonly now: () => number;
	// One probe at a time: concurrent calls during a probe use the fallback instead of piling onto a sick primary.
	private probing = false;

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

		const {cooldownMs = 5000, logger = console, names = {}, limit = Number.POSITIVE_INFINITY, now = Date.now} = options;
		if (typeof cooldownMs !== 'number' || Number.isNaN(cooldownMs) || cooldownMs < 0) {
			throw new RangeError(`Expected \`cooldownMs\` to be a non-negative number, got \`${String(cooldownMs)}\``);
		}

		if (typeof limit !== 'number' || (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit <= 0))) {
			throw new RangeError(`Expected \`limit\` to be a positive integer, got \`${String(limit)}\``);
		}

		this.cooldownMs = cooldownMs;
		this.logger = logger;
		this.names = {primary: names.primary ?? 'Redis', fallback: names.fallback ?? 'Prisma'};
		this.limit = limit;
		this.now = now;
	}

	/** The primary's prefix: the key space express-rate-limit sees. */
	get prefix(): string | undefined {
		return this.primary.prefix;
	}

	/** `true` while the circuit is open: the primary is skipped. */
	get circuitOpen(): boolean {
		return this.openedAt !== undefined;
	}

	init(options: MiddlewareOptions): void {
		// express-rate-limit's type allows an async init(); the example stores' is synchronous.
		void this.primary.init?.(options);
		void this.fallback.init?.(options);
	}

	async increment(key: string): Promise<ClientRateLimitInfo> {
		checkKey(key);
		const {result, decidedBy} = await this.route(async store => store.increment(key), true);
		this.emit('decision', decidedBy);
		return result;
	}

	/** Like `increment()`, and says which store decided. */
	async incrementDetailed(key: string): Promise<DecidedRateLimitInfo> {
		checkKey(key);
		const {result, decidedBy} = await this.route(async store => store.increment(key), true);
		this.emit('decision', decidedBy);
		return {...result, decidedBy};
	}

	async decrement(key: string): Promise<void> {
		checkKey(key);
		await this.route(async store => store.decrement(key), false);
	}

	async resetKey(key: string): Promise<void> {
		checkKey(key);
		await this.route(async store => store.resetKey(key), false);
	}

	/** Count a hit and decide against `limit` (for use without express-rate-limit). */
	async consume(key: string): Promise<ConsumeResult & {decidedBy: DecidedBy}> {
		const info = await this.incrementDetailed(key);
		return {...toConsumeResult(info, this.limit), decidedBy: info.decidedBy};
	}

	private async route<T>(operation: (store: RateLimitStore) => Promise<T>, mayProbe: boolean): Promise<Decided<T>> {
		if (this.openedAt === undefined) {
			try {
				return {result: await operation(this.primary), decidedBy: 'primary'};
			} catch (error) {
				this.open(error);
				return this.useFallback(operation, error);
			}
		}

		if (mayProbe && !this.probing && this.now() - this.openedAt >= this.cooldownMs) {
			this.probing = true;
			try {
				const result = await operation(this.primary);
				this.close();
				return {result, decidedBy: 'primary'};
			} catch (error) {
				this.openedAt = this.now();
				return this.useFallback(operation, error);
			} finally {
				this.probing = false;
			}
		}

		return this.useFallback(operation);
	}

	private async useFallback<T>(
		operation: (store: RateLimitStore) => Promise<T>,
		primaryError?: unknown,
	): Promise<Decided<T>> {
		try {
			return {result: await operation(this.fallback), decidedBy: 'fallback'};
		} catch (error) {
			throw new RateLimitStoreUnavailableError(
				`[rate-limit] ${this.names.primary} and ${this.names.fallback} stores both failed: the request cannot be rate limited.`,
				{cause: new AggregateError(primaryError === undefined ? [error] : [primaryError, error], 'Both rate-limit stores failed')},
			);
		}
	}

	private open(cause: unknown): void {
		if (this.openedAt !== undefined) {
			return;
		}

		this.openedAt = this.now();
		this.logger.warn(
			`[rate-limit] ${this.names.primary} store failed. Falling back to ${this.names.fallback} store for rate limiting.`,
			cause,
		);
		this.emit('circuit', {state: 'open', cause});
	}

	private close(): void {
		if (this.openedAt === undefined) {
			return;
		}

		this.openedAt = undefined;
		this.logger.info(`[rate-limit] ${this.names.primary} store recovered. Back to ${this.names.primary} store for rate limiting.`);
		this.emit('circuit', {state: 'closed'});
	}
}
