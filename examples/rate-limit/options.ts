import type {ClientRateLimitInfo, Options as MiddlewareOptions} from 'express-rate-limit';

/** Options every example store takes. */
export type RateLimitStoreOptions = {
	/** Length of the fixed window, in ms. express-rate-limit's `init()` replaces it with the middleware's `windowMs`. */
	windowMs: number;
	/** Hits allowed per window, used by `consume()`; express-rate-limit enforces its own `limit`. @default Infinity */
	limit?: number;
	/** Prepended to every key. @default 'rl:' */
	prefix?: string;
};

/**
A count one store hands another across an outage (fallback-store.ts): `totalHits` of the window ending at `resetTime`,
of which the primary (Redis) already has `synced`.
*/
export type HandedCount = {key: string; totalHits: number; synced: number; resetTime: Date};

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

/** Validates the shared options; throws a TypeError/RangeError naming the option. */
export function checkStoreOptions(options: unknown): Required<RateLimitStoreOptions> {
	if (options === null || typeof options !== 'object' || Array.isArray(options)) {
		throw new TypeError(`Expected \`options\` to be an object, got \`${describe(options)}\``);
	}

	const {windowMs, limit = Number.POSITIVE_INFINITY, prefix = 'rl:'} = options as RateLimitStoreOptions;
	checkWindowMs(windowMs);
	if (typeof limit !== 'number') {
		throw new TypeError(`Expected \`limit\` to be a number, got \`${describe(limit)}\``);
	}

	if (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit <= 0)) {
		throw new RangeError(`Expected \`limit\` to be a positive integer, got \`${limit}\``);
	}

	if (typeof prefix !== 'string') {
		throw new TypeError(`Expected \`prefix\` to be a string, got \`${describe(prefix)}\``);
	}

	if (prefix.length === 0) {
		throw new RangeError('Expected `prefix` to be a non-empty string');
	}

	return {windowMs, limit, prefix};
}

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

/** express-rate-limit calls `init(options)` with the middleware's options: adopt its window. */
export function windowFromMiddleware(options: Pick<MiddlewareOptions, 'windowMs'>): number {
	return checkWindowMs(options.windowMs, 'options.windowMs');
}

export function toConsumeResult(info: ClientRateLimitInfo, limit: number): ConsumeResult {
	return {...info, allowed: info.totalHits <= limit, remaining: Math.max(0, limit - info.totalHits)};
}
