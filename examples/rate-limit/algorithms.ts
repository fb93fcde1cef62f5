/**
The counting rules the stores offer (`algorithm`), as plain functions: the Redis store's Lua scripts and the Prisma
store's SQL compute exactly these, and the stores use them to turn a stored state into `totalHits` and `resetTime`
(so the two stores answer alike by construction). Tests use them as the reference model.

All arithmetic is on integers (ms, hits): Lua's doubles, SQLite's and PostgreSQL's BIGINTs then give the same answers
bit for bit for the same clock, with no rounding to disagree on. The clock is the caller's (`Date.now()` or a store's
`now` option), passed into the script: the Prisma fallback counts on the process clock too, so a state handed from one
store to the other means the same instant in both, and tests can move it.

- `fixed-window`: `limit` hits per window, the window starting at a key's first hit (the stores' own code, not here).
- `sliding-window`: the weighted two-window counter (@upstash/ratelimit's and Cloudflare's): windows aligned to
  multiples of `windowMs`; a hit is admitted when `ceil(previous × (1 − elapsed/windowMs)) + current < limit`.
  Refused hits are not counted. At most `limit` hits in any `windowMs` span, give or take the weighting's estimate
  (it assumes the previous window's hits were spread evenly).
- `token-bucket`: `limit` tokens, refilled at `limit` per `windowMs` (GCRA, as a leaky-bucket meter): each hit pours
  `windowMs` units into a bucket of `limit × windowMs` that drains `limit` units per ms. Integer units instead of
  GCRA's theoretical arrival time in ms, which is fractional whenever `windowMs / limit` is. Refused hits are not
  counted. A burst of `limit`, then one hit every `windowMs / limit` ms.

@example
```
const state = slidingWindow.hit(emptyState, {now: 1000, windowMs: 60_000, limit: 10});
// state.allowed === true, state.totalHits === 1
```
*/
export type Algorithm = 'fixed-window' | 'sliding-window' | 'token-bucket';

export const algorithms: readonly Algorithm[] = ['fixed-window', 'sliding-window', 'token-bucket'];

/**
What a sliding window or token bucket keeps per key. Sliding window: `current` and `previous` window's hits, `since`
the current window's start. Token bucket: `current` is the bucket's level in units (`windowMs` per hit), `since` when
it was measured, `previous` unused (0).
*/
export type AlgorithmState = {current: number; previous: number; since: number};

export type AlgorithmSettings = {now: number; windowMs: number; limit: number};

/** The answer to one hit: the state after it, and what express-rate-limit is told. */
export type HitResult = {
	state: AlgorithmState;
	allowed: boolean;
	/** At most `limit` when admitted, `limit + 1` or more when refused (express-rate-limit refuses `> limit`). */
	totalHits: number;
	/**
	Refused: the earliest instant a hit is admitted (wait exactly until then). Admitted: when the window ends (sliding) or
	the bucket is full again (token bucket).
	*/
	resetTime: number;
	/** When the key's state no longer matters (a Redis TTL, a row to sweep). */
	expiresAt: number;
};

export type Rule = {
	/** The state at `now`: windows rolled, the bucket drained. */
	at(state: AlgorithmState, settings: AlgorithmSettings): AlgorithmState;
	/** One hit at `now`. */
	hit(state: AlgorithmState, settings: AlgorithmSettings): HitResult;
	/** The answer to a hit, from the state after it (what a script or statement returns) and whether it was admitted. */
	answer(after: AlgorithmState, allowed: boolean, settings: AlgorithmSettings): HitResult;
	/** What `get()` answers: the count at `now` without a hit. */
	peek(state: AlgorithmState, settings: AlgorithmSettings): {totalHits: number; resetTime: number};
	/**
	Both states at `now`, the larger count of each: commutative and idempotent, so a hand-over sent twice, late, or by two
	processes counts once.
	*/
	merge(a: AlgorithmState, b: AlgorithmState, settings: AlgorithmSettings): AlgorithmState;
	/** One admitted hit taken back, never below empty. */
	decrement(state: AlgorithmState, settings: AlgorithmSettings): AlgorithmState;
};

export const emptyState: AlgorithmState = {current: 0, previous: 0, since: 0};

/** The start of the window `now` is in: a multiple of `windowMs`. */
export const windowStart = (now: number, windowMs: number) => now - (now % windowMs);

/** `ceil(a / b)` for non-negative integers, as the SQL writes it: `(a + b − 1) / b` with integer division. */
const ceilDiv = (a: number, b: number) => Math.floor((a + b - 1) / b);

/** The weighted count: the previous window's hits still in the sliding window, rounded up, plus the current's. */
function weighted({current, previous, since}: AlgorithmState, {now, windowMs}: AlgorithmSettings): number {
	// A state from a clock ahead of ours (another process) counts as its window's start.
	const left = windowMs - Math.max(0, now - since);
	return ceilDiv(previous * left, windowMs) + current;
}

export const slidingWindow: Rule = {
	at(state, {now, windowMs}) {
		const start = windowStart(now, windowMs);
		if (state.since >= start) {
			return state;
		}

		return state.since === start - windowMs
			? {current: 0, previous: state.current, since: start}
			: {current: 0, previous: 0, since: start};
	},
	hit(state, settings) {
		const rolled = slidingWindow.at(state, settings);
		const allowed = weighted(rolled, settings) < settings.limit;
		return slidingWindow.answer(allowed ? {...rolled, current: rolled.current + 1} : rolled, allowed, settings);
	},
	answer(after, allowed, settings) {
		const {windowMs} = settings;
		const count = weighted(after, settings);
		return {
			state: after,
			allowed,
			// Admitted: `after` counts the hit already.
			totalHits: allowed ? count : count + 1,
			resetTime: allowed ? after.since + windowMs : slidingRetryAt(after, settings),
			expiresAt: after.since + (2 * windowMs),
		};
	},
	peek(state, settings) {
		const rolled = slidingWindow.at(state, settings);
		const count = weighted(rolled, settings);
		const resetTime = count >= settings.limit ? slidingRetryAt(rolled, settings) : rolled.since + settings.windowMs;
		return {totalHits: count, resetTime};
	},
	merge(a, b, settings) {
		const x = slidingWindow.at(a, settings);
		const y = slidingWindow.at(b, settings);
		if (x.since !== y.since) {
			return x.since > y.since ? x : y;
		}

		return {current: Math.max(x.current, y.current), previous: Math.max(x.previous, y.previous), since: x.since};
	},
	decrement(state, settings) {
		const rolled = slidingWindow.at(state, settings);
		return {...rolled, current: Math.max(0, rolled.current - 1)};
	},
};

/**
The earliest instant a hit is admitted in a sliding window that refuses one now (`state` rolled to now). In the current
window when its own hits leave room: `ceil(previous × left / windowMs) ≤ limit − 1 − current`, that is
`left ≤ floor((limit − 1 − current) × windowMs / previous)`; otherwise the same in the next window, whose previous
window is this one.
*/
function slidingRetryAt({current, previous, since}: AlgorithmState, {windowMs, limit}: AlgorithmSettings): number {
	if (current < limit) {
		return since + windowMs - Math.floor(((limit - 1 - current) * windowMs) / previous);
	}

	return since + (2 * windowMs) - Math.floor(((limit - 1) * windowMs) / current);
}

export const tokenBucket: Rule = {
	at(state, {now, windowMs, limit}) {
		const elapsed = now - state.since;
		if (elapsed <= 0) {
			return state;
		}

		// Past a whole window the bucket is empty whatever it held: no product beyond limit × windowMs.
		const drained = elapsed >= windowMs ? 0 : Math.max(0, state.current - (elapsed * limit));
		return {current: drained, previous: 0, since: now};
	},
	hit(state, settings) {
		const {windowMs, limit} = settings;
		const level = tokenBucket.at(state, settings);
		const allowed = level.current + windowMs <= limit * windowMs;
		return tokenBucket.answer(allowed ? {...level, current: level.current + windowMs} : level, allowed, settings);
	},
	answer(after, allowed, {windowMs, limit}) {
		const emptyAt = after.since + ceilDiv(after.current, limit);
		return {
			state: after,
			allowed,
			totalHits: allowed ? ceilDiv(after.current, windowMs) : limit + 1,
			// Refused: when the level is down to room for one hit, `(limit − 1) × windowMs`.
			resetTime: allowed ? emptyAt : after.since + ceilDiv(after.current - ((limit - 1) * windowMs), limit),
			expiresAt: emptyAt,
		};
	},
	peek(state, settings) {
		const {windowMs, limit} = settings;
		const level = tokenBucket.at(state, settings);
		const full = level.current + windowMs > limit * windowMs;
		return {
			totalHits: ceilDiv(level.current, windowMs),
			resetTime: full
				? level.since + ceilDiv(level.current - ((limit - 1) * windowMs), limit)
				: level.since + ceilDiv(level.current, limit),
		};
	},
	merge(a, b, settings) {
		const x = tokenBucket.at(a, settings);
		const y = tokenBucket.at(b, settings);
		return {current: Math.max(x.current, y.current), previous: 0, since: Math.max(x.since, y.since)};
	},
	decrement(state, settings) {
		const level = tokenBucket.at(state, settings);
		return {...level, current: Math.max(0, level.current - settings.windowMs)};
	},
};

export const rules: Record<Exclude<Algorithm, 'fixed-window'>, Rule> = {
	'sliding-window': slidingWindow,
	'token-bucket': tokenBucket,
};

const describe = (value: unknown) => value === null ? 'null' : typeof value;

/** The `algorithm` option: a TypeError/RangeError naming it otherwise. */
export function checkAlgorithm(algorithm: unknown): Algorithm {
	if (typeof algorithm !== 'string') {
		throw new TypeError(`Expected \`algorithm\` to be a string, got \`${describe(algorithm)}\``);
	}

	if (!(algorithms as readonly string[]).includes(algorithm)) {
		throw new RangeError(`Expected \`algorithm\` to be one of ${algorithms.map(name => `'${name}'`).join(', ')}, got \`${algorithm}\``);
	}

	return algorithm as Algorithm;
}

/**
The settings a sliding window or token bucket needs at each hit: a finite `limit` (express-rate-limit gives its own
through `init()`, unless it is a function of the request), whole milliseconds, and a bucket that fits in exact
integers.
*/
export function ruleSettings(algorithm: Algorithm, windowMs: number, limit: number, now: number): AlgorithmSettings {
	if (!Number.isFinite(limit)) {
		throw new RangeError(`Expected \`limit\` to be a finite number with \`algorithm: '${algorithm}'\`: it decides at the store`);
	}

	const whole = Math.max(1, Math.round(windowMs));
	if (whole * limit > Number.MAX_SAFE_INTEGER) {
		throw new RangeError(`Expected \`limit\` × \`windowMs\` to be at most ${Number.MAX_SAFE_INTEGER} with \`algorithm: '${algorithm}'\`, got ${whole * limit}`);
	}

	return {now: Math.floor(now), windowMs: whole, limit};
}
