import {createHash} from 'node:crypto';
import {limiter} from './limiter.js';
import {RateLimitStoreUnavailableError} from './stores.js';

export type RateLimitCheck =
	| {allowed: true; headers: Headers}
	| {allowed: false; response: Response};

/**
The client key. Behind a proxy you trust (TRUST_PROXY=1), the first X-Forwarded-For hop — the address the proxy saw.
Otherwise every client shares one key: Next.js has no `request.ip`, and a header anyone can send must not pick the key,
or each request could claim a fresh one and never be limited.
*/
export function clientKey(request: Request, trustProxy: boolean): string {
	const firstHop = trustProxy ? request.headers.get('x-forwarded-for')?.split(',')[0]?.trim() : undefined;
	return firstHop ? `ip:${firstHop}` : 'shared';
}

/** express-rate-limit's draft-8 headers: `RateLimit: "name"; r=…; t=…` and `RateLimit-Policy: "name"; q=…; w=…; pk=…`. */
function rateLimitHeaders(key: string, limit: number, windowMs: number, remaining: number, resetSeconds: number): Headers {
	const name = `${limit}-in-${Math.ceil(windowMs / 1000)}s`;
	const partitionKey = Buffer.from(createHash('sha256').update(key).digest('hex').slice(0, 12)).toString('base64');
	return new Headers({
		RateLimit: `"${name}"; r=${remaining}; t=${resetSeconds}`,
		'RateLimit-Policy': `"${name}"; q=${limit}; w=${Math.ceil(windowMs / 1000)}; pk=:${partitionKey}:`,
	});
}

/**
Count this request against `scope` (each place that limits has its own counters) and decide: `allowed` with the
RateLimit headers to add, or the response to send — 429 with Retry-After when over the limit, 503 when neither Redis nor
the fallback could count it (let through instead with RATE_LIMIT_FAIL_OPEN=1). Never a 500 with a stack trace.
*/
export async function checkRateLimit(request: Request, scope: string): Promise<RateLimitCheck> {
	let current;
	try {
		current = await limiter();
	} catch (error) {
		// Not even the fallback's database could be opened: the same as both stores being down.
		console.error('[rate-limit] could not start the rate limiter', error);
		return unavailable(process.env.RATE_LIMIT_FAIL_OPEN === '1');
	}

	const {config, store} = current;
	const key = `${scope}:${clientKey(request, config.trustProxy)}`;
	try {
		const result = await store.consume(key);
		const resetMs = (result.resetTime?.getTime() ?? Date.now() + config.windowMs) - Date.now();
		const resetSeconds = Math.max(0, Math.ceil(resetMs / 1000));
		const headers = rateLimitHeaders(key, config.limit, config.windowMs, result.remaining, resetSeconds);
		if (result.allowed) {
			return {allowed: true, headers};
		}

		headers.set('Retry-After', String(resetSeconds));
		const body = {error: 'Too many requests, please try again later.'};
		return {allowed: false, response: Response.json(body, {status: 429, headers})};
	} catch (error) {
		if (!(error instanceof RateLimitStoreUnavailableError)) {
			console.error('[rate-limit] unexpected error', error);
		}

		return unavailable(config.failOpen);
	}
}

function unavailable(failOpen: boolean): RateLimitCheck {
	if (failOpen) {
		return {allowed: true, headers: new Headers()};
	}

	return {
		allowed: false,
		response: Response.json(
			{error: 'Rate limiting is unavailable, please try again later.'},
			{status: 503, headers: {'Retry-After': '5'}},
		),
	};
}
