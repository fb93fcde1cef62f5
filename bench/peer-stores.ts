/*
rate-limiter-flexible in the two shapes the benchmarks run it in (it ships no express-rate-limit store, and no Express
middleware of its own):

- `RateLimiterFlexibleStore`: a limiter as an express-rate-limit `Store`, so that it runs behind exactly the middleware,
  options and headers our stores run behind (the fair comparison: same HTTP work per request, only the store differs);
- `rateLimiterFlexibleMiddleware`: the few lines its README shows (consume, then `next()` or a bare 429): no headers, no
  body — less work per request than express-rate-limit does, for every store.
*/
import type {RequestHandler} from 'express';
import type {ClientRateLimitInfo, Options as MiddlewareOptions, Store} from 'express-rate-limit';
import {RateLimiterRes, type RateLimiterAbstract} from 'rate-limiter-flexible';

/**
A rate-limiter-flexible limiter as an express-rate-limit store: `increment()` consumes a point. A consume the limiter
refuses (over its `points`, or blocked in memory by `inMemoryBlockOnConsumed`, where it reports 0 consumed points)
answers at least `points + 1` hits, so that express-rate-limit refuses it too; `resetTime` is `msBeforeNext` from now.
*/
export class RateLimiterFlexibleStore implements Store {
	readonly localKeys = false;

	constructor(private readonly limiter: RateLimiterAbstract, readonly prefix: string) {}

	init(_options: MiddlewareOptions): void {
		// The limiter has its own points and duration, set to the middleware's by whoever made it.
	}

	increment(key: string): Promise<ClientRateLimitInfo> {
		return this.limiter.consume(key).then(
			result => ({totalHits: result.consumedPoints, resetTime: new Date(Date.now() + result.msBeforeNext)}),
			(rejection: unknown) => {
				if (rejection instanceof RateLimiterRes) {
					return {
						totalHits: Math.max(rejection.consumedPoints, this.limiter.points + 1),
						resetTime: new Date(Date.now() + rejection.msBeforeNext),
					};
				}

				throw rejection;
			},
		);
	}

	async decrement(key: string): Promise<void> {
		await this.limiter.reward(key);
	}

	async resetKey(key: string): Promise<void> {
		await this.limiter.delete(key);
	}
}

/** rate-limiter-flexible's own middleware, as its README shows it: consume, then `next()` or a bare 429. */
export function rateLimiterFlexibleMiddleware(
	limiter: RateLimiterAbstract, keyOf: (request: Parameters<RequestHandler>[0]) => string,
): RequestHandler {
	return (request, response, next) => {
		limiter.consume(keyOf(request)).then(() => {
			next();
		}, (rejection: unknown) => {
			if (rejection instanceof RateLimiterRes) {
				response.status(429).end();
			} else {
				next(rejection);
			}
		});
	};
}
