import type {ClientRateLimitInfo, Options as MiddlewareOptions} from 'express-rate-limit';
import {checkAlgorithm, type Algorithm, type AlgorithmState} from './algorithms.js';

/** Options every example store takes. */
export type RateLimitStoreOptions = {
	/** Length of the fixed window, in ms. express-rate-limit's `init()` replaces it with the middleware's `windowMs`. */
	windowMs: number;
	/**
	Hits allowed per window: `consume()` decides against it, and keys over it are answered from memory
	(`inMemoryBlock`). express-rate-limit's `init()` replaces it with the middleware's `limit` when that is a number.
	@default Infinity
	*/
	limit?: number;
	/** Prepended to every key. @default 'rl:' */
	prefix?: string;
	/**
	Answer a key the store found over `limit` from memory until its window ends, with no call to the store (a client
	hammering far past its limit costs nothing); `false` records every hit in the store. At most `inMemoryBlockKeys` keys.
	@default true
	*/
	inMemoryBlock?: boolean;
	/** How many over-limit keys `inMemoryBlock` keeps (oldest first out, about 200 bytes each). @default 10_000 */
	inMemoryBlockKeys?: number;
	/**
	How hits are counted (algorithms.ts): `'fixed-window'` (`limit` per window from a key's first hit; a client may send
	`limit` at a window's end and `limit` again at the next one's start), `'sliding-window'` (the weighted two-window
	counter: no such double burst) or `'token-bucket'` (a burst of `limit`, then `limit` per `windowMs`, evenly). With the
	last two, refused hits are not counted and `limit` must be a number when a hit is counted.
	@default 'fixed-window'
	*/
	algorithm?: Algorithm;
};

/** The options of `RateLimitStoreOptions`, for stores to name unknown ones. */
export const storeOptionNames = ['windowMs', 'limit', 'prefix', 'inMemoryBlock', 'inMemoryBlockKeys', 'algorithm'] as const;

/**
A count one store hands another across an outage (fallback-store.ts): `totalHits` of the window ending at `resetTime`,
of which the primary (Redis) already has `synced`. A sliding window or token bucket hands its whole `state` instead,
which the other store merges with its own (the larger count of each: sent twice, or by two processes, it counts once).
*/
export type HandedCount = {
	key: string;
	totalHits: number;
	synced: number;
	resetTime: Date;
	/** A sliding window's or token bucket's state. */
	state?: AlgorithmState;
	/** What of `state` Redis had already (the fallback's base), to put back if the hand-over fails. */
	base?: AlgorithmState;
};

/** A store's answer to a hit; a sliding window or token bucket also says its state, for a fallback to count on from. */
export type StoreRateLimitInfo = ClientRateLimitInfo & {state?: AlgorithmState};

/** What `consume()` answers: express-rate-limit's info plus the decision. */
export type ConsumeResult = ClientRateLimitInfo & {allowed: boolean; remaining: number};

const describe = (value: unknown) => value === null ? 'null' : typeof value;

export function checkWindowMs(windowMs: unknown, name = 'windowMs'): number {
	if (typeof windowMs !== 'number') {
		throw new TypeError(`Expected \`${name}\` to be a number of milliseconds, got \`${describe(windowMs)}\``);
	}

	if (!Number.isFinite(windowMs) || windowMs <= 0) {
		throw new RangeError(`Expected \`${name}\` to be a positive, finite number of milliseconds, got \`${windowMs}\``);
	}

	return windowMs;
}

/** A limit: a positive integer, or `Infinity` for none. */
export function checkLimit(limit: unknown, name = 'limit'): number {
	if (typeof limit !== 'number') {
		throw new TypeError(`Expected \`${name}\` to be a number, got \`${describe(limit)}\``);
	}

	if (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit <= 0)) {
		throw new RangeError(`Expected \`${name}\` to be a positive integer, got \`${limit}\``);
	}

	return limit;
}

/** A TypeError naming the first option of `options` that is not in `known`: a misspelt option would be ignored. */
export function checkKnownOptions(options: object, known: readonly string[]): void {
	for (const name of Object.keys(options)) {
		if (!known.includes(name)) {
			throw new TypeError(`Unknown option \`${name}\`: the options are ${known.map(option => `\`${option}\``).join(', ')}`);
		}
	}
}

/**
Validates the shared options (and that `options` has no option outside `storeOptionNames` and `ownOptions`); throws a
TypeError/RangeError naming the option.
*/
export function checkStoreOptions(
	options: unknown, ownOptions: readonly string[],
): Required<RateLimitStoreOptions> {
	if (options === null || typeof options !== 'object' || Array.isArray(options)) {
		throw new TypeError(`Expected \`options\` to be an object, got \`${describe(options)}\``);
	}

	checkKnownOptions(options, [...storeOptionNames, ...ownOptions]);
	const {
		windowMs, limit = Number.POSITIVE_INFINITY, prefix = 'rl:', inMemoryBlock = true, inMemoryBlockKeys = 10_000,
		algorithm = 'fixed-window',
	} = options as RateLimitStoreOptions;
	checkAlgorithm(algorithm);
	checkWindowMs(windowMs);
	checkLimit(limit);
	if (typeof inMemoryBlock !== 'boolean') {
		throw new TypeError(`Expected \`inMemoryBlock\` to be a boolean, got \`${describe(inMemoryBlock)}\``);
	}

	if (typeof inMemoryBlockKeys !== 'number' || !Number.isInteger(inMemoryBlockKeys) || inMemoryBlockKeys < 0) {
		throw new RangeError(`Expected \`inMemoryBlockKeys\` to be a non-negative integer, got \`${String(inMemoryBlockKeys)}\``);
	}

	if (typeof prefix !== 'string') {
		throw new TypeError(`Expected \`prefix\` to be a string, got \`${describe(prefix)}\``);
	}

	if (prefix.length === 0) {
		throw new RangeError('Expected `prefix` to be a non-empty string');
	}

	return {windowMs, limit, prefix, inMemoryBlock, inMemoryBlockKeys, algorithm};
}

/** Where the stores' few log lines go: a structured logger gets the error itself as `cause`. */
export type StoreLogger = {warn(message: string, cause?: unknown): void; info(message: string): void};

/** The stores' default logger: one line per message on the console, the cause's code and message, not its stack. */
export const consoleLogger: StoreLogger = {
	warn(message, cause) {
		if (cause === undefined) {
			console.warn(message);
			return;
		}

		const {code, message: text} = cause as {code?: unknown; message?: unknown};
		console.warn(`${message} (${typeof code === 'string' ? `${code}: ` : ''}${typeof text === 'string' ? text : String(cause)})`);
	},
	info(message) {
		console.info(message);
	},
};

/** Throws before anything is written when a key is unusable. */
export function checkKey(key: unknown): string {
	if (typeof key !== 'string') {
		throw new TypeError(`Expected \`key\` to be a string, got \`${describe(key)}\``);
	}

	if (key.length === 0) {
		throw new RangeError('Expected `key` to be a non-empty string');
	}

	return key;
}

/**
express-rate-limit calls `init(options)` with the middleware's options: its window, and its `limit` when that is a
number (a function of the request leaves the store's own).
*/
export function fromMiddleware(
	options: Pick<MiddlewareOptions, 'windowMs'> & {limit?: unknown}, ownLimit: number,
): {windowMs: number; limit: number} {
	const limit = typeof options.limit === 'number' ? checkLimit(options.limit, 'options.limit') : ownLimit;
	return {windowMs: checkWindowMs(options.windowMs, 'options.windowMs'), limit};
}

export function toConsumeResult(info: ClientRateLimitInfo, limit: number): ConsumeResult {
	return {...info, allowed: info.totalHits <= limit, remaining: Math.max(0, limit - info.totalHits)};
}
