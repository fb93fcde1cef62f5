import {Controller, Get} from '@nestjs/common';
import {SkipThrottle} from '@nestjs/throttler';

// The `strict` throttler (app.module.ts) is off here except where a route turns it on.
@SkipThrottle({strict: true})
@Controller()
export class AppController {
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

	@SkipThrottle({default: true, strict: true})
	@Get('health')
	health(): {ok: true} {
		return {ok: true};
	}
}
