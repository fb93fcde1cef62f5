import pMemoize from 'p-memoize';
import {describeValue, invalidFunction, invalidOptionsObject, unknownOption} from './options.js';

/**
Options for {@link singleFlight}.

@example
```
const fetchUser = singleFlight((id: string) => api.user(id), {key: id => id});
```
*/
export type SingleFlightOptions<A extends unknown[]> = {
	/**
	Maps a call's arguments to the key that decides which calls share one flight.
	Keys are compared with `SameValueZero`, as in a `Map`.

	@default () => a single key for every call
	*/
	readonly key?: (...arguments_: A) => unknown;
};

const everyCall = Symbol('singleFlight.everyCall');

/**
Wrap `fn` so that concurrent calls share one in-flight promise.

While a call is in flight, every other call with the same key gets the **same promise object** and `fn` is not run
again. Once that promise settles — fulfilled or rejected — it is forgotten: the next call runs `fn` afresh. Nothing is
cached, so a failure is never replayed to later callers.

A synchronous throw from `fn` becomes the shared rejection: calling the returned function never throws.
Arguments and `this` reach `fn`; plain (non-promise) return values work.

Built on [p-memoize](https://github.com/sindresorhus/p-memoize)'s in-flight de-duplication with `cache: false`.

@param fn - The function whose concurrent calls to share.
@returns A function with the same parameters that always returns a promise.

@example
```
import {singleFlight} from 'connection-guard';

const loadConfig = singleFlight(async () => {
	const response = await fetch('https://example.com/config.json');
	return response.json();
});

// One request, two callers:
const [a, b] = await Promise.all([loadConfig(), loadConfig()]);

// Per-key flights:
const getUser = singleFlight((id: string) => db.users.find(id), {key: id => id});
```
*/
export function singleFlight<A extends unknown[], T>(
	fn: (...arguments_: A) => T | PromiseLike<T>,
	options: SingleFlightOptions<A> = {},
): (...arguments_: A) => Promise<T> {
	if (typeof fn !== 'function') {
		throw new TypeError(`Expected \`fn\` to be a function, got \`${describeValue(fn)}\``);
	}

	const invalid = invalidOptionsObject(options) ?? unknownOption(options, ['key']) ?? invalidFunction(options.key, 'key');
	if (invalid) {
		throw invalid;
	}

	const {key} = options;
	// p-memoize 8 runs `fn` synchronously inside its async wrapper and removes the in-flight entry in a `finally` that
	// runs before the entry is stored when `fn` throws synchronously: that rejection would then be handed out forever.
	// Turning the throw into a rejected promise here makes p-memoize store the entry first and remove it once it settles,
	// like any other.
	const settles = function (this: unknown, ...arguments_: A): T | PromiseLike<T> {
		try {
			return fn.apply(this, arguments_);
		} catch (error) {
			return Promise.reject(error);
		}
	};

	// `cache: false` keeps only p-memoize's map of in-flight promises: an entry lives until its promise settles.
	const shared = pMemoize(settles as (...arguments_: A) => Promise<T>, {
		cache: false,
		cacheKey: key ? (arguments_: A) => key(...arguments_) : () => everyCall,
	});

	return function (this: unknown, ...arguments_: A): Promise<T> {
		try {
			return shared.apply(this, arguments_);
		} catch (error) {
			// Only a throwing `key` function lands here (p-memoize computes the key before it stores anything, so nothing is
			// kept): keep the promise-only contract.
			return Promise.reject(error);
		}
	};
}
