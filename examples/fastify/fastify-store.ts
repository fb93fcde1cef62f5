/*
A store for `@fastify/rate-limit` on top of the example stores (for example Redis with the Prisma fallback). The plugin
instantiates its `store` option itself (`new Store(options)`), so `fastifyRateLimitStore(store)` returns a class bound
to your store. Copy this file with `../rate-limit/`; it needs `@fastify/rate-limit`.
*/
import type {FastifyRateLimitOptions, FastifyRateLimitStore, FastifyRateLimitStoreCtor} from '@fastify/rate-limit';
import type {RateLimitStore} from '../rate-limit/fallback-store.js';

type Callback = Parameters<FastifyRateLimitStore['incr']>[1];

/**
A `store` for `@fastify/rate-limit` that counts in `store` (any example store: `FallbackRateLimitStore`,
`RedisRateLimitStore`, `PrismaRateLimitStore`). The plugin's `timeWindow` becomes the store's window (it must be a
number of ms), and a numeric `max` its `limit` (the plugin still decides on its own `max`). A store failure reaches the
plugin as an error: the request fails closed with a 500, or is let through with the plugin's `skipOnError: true`.

@example
```
import Fastify from 'fastify';
import rateLimit from '@fastify/rate-limit';

const app = Fastify();
await app.register(rateLimit, {max: 100, timeWindow: 60_000, store: fastifyRateLimitStore(fallbackStore)});
```
*/
export function fastifyRateLimitStore(store: RateLimitStore): FastifyRateLimitStoreCtor {
	if (store === null || typeof store !== 'object' || typeof store.increment !== 'function') {
		throw new TypeError('Expected `store` to be a rate-limit store with an `increment()` method');
	}

	return class FastifyStore implements FastifyRateLimitStore {
		// The plugin passes its options (with `timeWindow` and `max`), typed as an empty interface.
		constructor(options: FastifyRateLimitOptions) {
			const {timeWindow, max} = options as {timeWindow?: unknown; max?: unknown};
			if (typeof timeWindow === 'number') {
				// The example stores' init() is synchronous. A numeric `max` is their limit (for their in-memory block).
				const middlewareOptions = typeof max === 'number' ? {windowMs: timeWindow, limit: max} : {windowMs: timeWindow};
				void store.init?.(middlewareOptions as Parameters<NonNullable<RateLimitStore['init']>>[0]);
			}
		}

		incr(key: string, callback: Callback): void {
			Promise.resolve(store.increment(key)).then(({totalHits, resetTime}) => {
				callback(null, {current: totalHits, ttl: Math.max(0, (resetTime?.getTime() ?? Date.now()) - Date.now())});
			}, (error: unknown) => {
				callback(error instanceof Error ? error : new Error(String(error)));
			});
		}

		// Per-route limits share the store: counts are keyed by what the plugin's key generator returns.
		child(routeOptions: FastifyRateLimitOptions): FastifyRateLimitStore {
			return new FastifyStore(routeOptions);
		}
	};
}
