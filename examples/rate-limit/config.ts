import {join} from 'node:path';

/**
An app's rate-limit settings, from the environment (defaults in parentheses). The Next.js and NestJS examples read the
same variables with the same meanings (examples/README.md).
*/
export type RateLimitConfig = {
	/** REDIS_URL (redis://127.0.0.1:6379) */
	redisUrl: string;
	/** DATABASE_URL (a SQLite file in the app's .data/): the fallback store's database; postgres://… for PostgreSQL. */
	databaseUrl: string;
	/** RATE_LIMIT_LIMIT (10): requests allowed per window and client key. */
	limit: number;
	/** RATE_LIMIT_WINDOW_MS (60000) */
	windowMs: number;
	/** TRUST_PROXY=1: key clients by the first X-Forwarded-For hop. Off by default: anyone can send that header. */
	trustProxy: boolean;
	/** RATE_LIMIT_FAIL_OPEN=1: let requests through when both stores are down (default: 503). */
	failOpen: boolean;
	/** RATE_LIMIT_COOLDOWN_MS (5000): how long the fallback answers alone before one request probes Redis again. */
	cooldownMs: number;
};

type Environment = Record<string, string | undefined>;

/** The variable `name` as a positive integer; a `RangeError` naming it otherwise. */
export function positiveInteger(env: Environment, name: string, fallback: number): number {
	const raw = env[name];
	const value = raw === undefined || raw === '' ? fallback : Number(raw);
	if (!Number.isSafeInteger(value) || value <= 0) {
		throw new RangeError(`Expected \`${name}\` to be a positive integer, got \`${raw}\``);
	}

	return value;
}

/** Reads the settings; throws a `RangeError` naming the variable when one is not a positive integer. */
export function rateLimitConfig(env: Environment = process.env): RateLimitConfig {
	return {
		redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
		databaseUrl: env.DATABASE_URL || `file:${join(process.cwd(), '.data', 'rate-limit.db')}`,
		limit: positiveInteger(env, 'RATE_LIMIT_LIMIT', 10),
		windowMs: positiveInteger(env, 'RATE_LIMIT_WINDOW_MS', 60_000),
		trustProxy: env.TRUST_PROXY === '1',
		failOpen: env.RATE_LIMIT_FAIL_OPEN === '1',
		cooldownMs: positiveInteger(env, 'RATE_LIMIT_COOLDOWN_MS', 5000),
	};
}
