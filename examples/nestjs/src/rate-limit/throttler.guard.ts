import {Inject, Injectable, ServiceUnavailableException} from '@nestjs/common';
import {ThrottlerGuard, type ThrottlerRequest} from '@nestjs/throttler';
import {RateLimitStoreUnavailableError, type RateLimitConfig} from './stores.js';

/** Injection token of the settings (./stores.js `rateLimitConfig()`). */
export const RATE_LIMIT_CONFIG = Symbol('RATE_LIMIT_CONFIG');

/**
`ThrottlerGuard`, deciding what happens when no store could count the request (Redis and the fallback database both
down): a 503 with Retry-After (fail closed, the default), or the request goes through with `RATE_LIMIT_FAIL_OPEN=1`.
The throttler's own guard awaits the storage without a catch, which would make that a 500.
*/
@Injectable()
export class FallbackThrottlerGuard extends ThrottlerGuard {
	@Inject(RATE_LIMIT_CONFIG) private readonly config!: RateLimitConfig;

	protected override async handleRequest(request: ThrottlerRequest): Promise<boolean> {
		try {
			return await super.handleRequest(request);
		} catch (error) {
			if (!(error instanceof RateLimitStoreUnavailableError)) {
				throw error;
			}

			if (this.config.failOpen) {
				return true;
			}

			this.setResponseHeader(this.getRequestResponse(request.context).res, 'Retry-After', 5);
			throw new ServiceUnavailableException('Rate limiting is unavailable, please try again later.', {cause: error});
		}
	}
}
