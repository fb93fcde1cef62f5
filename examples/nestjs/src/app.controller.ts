import {Controller, Get, Inject, ServiceUnavailableException} from '@nestjs/common';
import {SkipThrottle} from '@nestjs/throttler';
import {RATE_LIMIT_CONFIG} from './rate-limit/throttler.guard.js';
import {FallbackThrottlerStorage, type ThrottlerStorageHealth} from './rate-limit/throttler-storage.js';
import type {RateLimitConfig} from './rate-limit/stores.js';

/**
`ok`: both stores answer. `degraded`: one of them does, so requests are still limited (Redis down: by the fallback;
the database down: by Redis, without a fallback) — or neither does and RATE_LIMIT_FAIL_OPEN=1 lets requests through
unlimited. `unavailable`: neither does, and requests get 503.
*/
export type Readiness = ThrottlerStorageHealth & {status: 'ok' | 'degraded' | 'unavailable'};

// The `strict` throttler (app.module.ts) is off here except where a route turns it on.
@SkipThrottle({strict: true})
@Controller()
export class AppController {
	constructor(
		private readonly storage: FallbackThrottlerStorage,
		@Inject(RATE_LIMIT_CONFIG) private readonly config: RateLimitConfig,
	) {}

	/** Limited by the global guard: RATE_LIMIT_LIMIT requests per RATE_LIMIT_WINDOW_MS and client. */
	@Get('hello')
	hello(): {ok: true} {
		return {ok: true};
	}

	/** Also under the `strict` named throttler: 2 per window, then blocked for two windows. */
	@SkipThrottle({strict: false})
	@Get('hello/strict')
	strict(): {ok: true; strict: true} {
		return {ok: true, strict: true};
	}

	/**
	Readiness: can this app limit requests now? Asks Redis (a PING through the guard) and the fallback database
	(`SELECT 1`), each within a second: 200 while at least one answers, else 503. Hand-written rather than
	@nestjs/terminus: there any indicator down means 503, and here Redis down with the database up is only degraded (and
	taking every instance out of service when the shared Redis is down would turn its outage into the app's).
	*/
	@SkipThrottle({default: true, strict: true})
	@Get('health')
	async health(): Promise<Readiness> {
		const stores = await this.storage.health();
		const answering = [stores.redis, stores.database].filter(state => state === 'up').length;
		const status = answering === 2 ? 'ok' : answering === 1 || this.config.failOpen ? 'degraded' : 'unavailable';
		const readiness: Readiness = {status, ...stores};
		if (status === 'unavailable') {
			throw new ServiceUnavailableException(readiness);
		}

		return readiness;
	}
}
