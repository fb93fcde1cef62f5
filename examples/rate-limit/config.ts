import {join} from 'node:path';
import {algorithms, type Algorithm} from './algorithms.js';

/**
An app's rate-limit settings, from the environment (defaults in parentheses). The Next.js and NestJS examples read the
same variables with the same meanings (examples/README.md).
*/
export type RateLimitConfig = {
	/** REDIS_URL (redis://127.0.0.1:6379) */
	redisUrl: string;
	/** REDIS_CLIENT (ioredis): the client library, `ioredis` or `node-redis` (the `redis` package). */
	redisClient: 'ioredis' | 'node-redis';
	/** DATABASE_URL (a SQLite file in the app's .data/): the fallback store's database; postgres://… for PostgreSQL. */
	databaseUrl: string;
	/** RATE_LIMIT_LIMIT (10): requests allowed per window and client key. */
	limit: number;
	/** RATE_LIMIT_WINDOW_MS (60000) */
	windowMs: number;
	/**
	RATE_LIMIT_ALGORITHM (fixed-window): how hits are counted, `fixed-window`, `sliding-window` or `token-bucket`
	(algorithms.ts; docs/rate-limiting-in-your-app.md says how to choose).
	*/
	algorithm: Algorithm;
	/** TRUST_PROXY=1: key clients by the first X-Forwarded-For hop. Off by default: anyone can send that header. */
	trustProxy: boolean;
	/** RATE_LIMIT_FAIL_OPEN=1: let requests through when both stores are down (default: 503). */
	failOpen: boolean;
	/** RATE_LIMIT_COOLDOWN_MS (5000): how long the fallback answers alone before one request probes Redis again. */
	cooldownMs: number;
	/**
	REDIS_CLUSTER_NODES (unset): `host:port,host:port,…`, the startup nodes of a Redis Cluster, used instead of
	REDIS_URL (the NestJS example).
	*/
	redisClusterNodes?: RedisNode[];
	/**
	REDIS_SENTINELS (unset): `host:port,host:port,…`, the Sentinels to ask for the master named REDIS_SENTINEL_NAME
	(mymaster), used instead of REDIS_URL (the NestJS example).
	*/
	redisSentinel?: {sentinels: RedisNode[]; name: string};
};

export type RedisNode = {host: string; port: number};

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

/**
The variable `name` as `host:port,host:port,…` (`[::1]:6379` for IPv6); `undefined` when unset; a `RangeError` naming
it otherwise.
*/
export function redisNodes(env: Environment, name: string): RedisNode[] | undefined {
	const raw = env[name];
	if (raw === undefined || raw.trim() === '') {
		return undefined;
	}

	return raw.split(',').map(entry => {
		const node = /^\s*\[?([^\]\s]+?)\]?:(\d+)\s*$/.exec(entry);
		const port = Number(node?.[2]);
		if (!node || !Number.isSafeInteger(port) || port <= 0 || port > 65_535) {
			throw new RangeError(`Expected \`${name}\` to be a comma-separated list of host:port, got \`${raw}\``);
		}

		return {host: node[1]!, port};
	});
}

/**
Reads the settings; throws a `RangeError` naming the variable when one is not a positive integer (or not a list of
host:port, or not a client the examples know), or when both REDIS_CLUSTER_NODES and REDIS_SENTINELS are set.
*/
export function rateLimitConfig(env: Environment = process.env): RateLimitConfig {
	const redisClusterNodes = redisNodes(env, 'REDIS_CLUSTER_NODES');
	const sentinels = redisNodes(env, 'REDIS_SENTINELS');
	if (redisClusterNodes && sentinels) {
		throw new RangeError('Expected at most one of `REDIS_CLUSTER_NODES` and `REDIS_SENTINELS`, got both');
	}

	const redisClient = env.REDIS_CLIENT || 'ioredis';
	if (redisClient !== 'ioredis' && redisClient !== 'node-redis') {
		throw new RangeError(`Expected \`REDIS_CLIENT\` to be \`ioredis\` or \`node-redis\`, got \`${redisClient}\``);
	}

	if (redisClient === 'node-redis' && sentinels) {
		throw new RangeError('Expected `REDIS_CLIENT` to be `ioredis` with `REDIS_SENTINELS` (the examples make Sentinel clients with ioredis)');
	}

	const algorithm = env.RATE_LIMIT_ALGORITHM || 'fixed-window';
	if (!(algorithms as readonly string[]).includes(algorithm)) {
		throw new RangeError(`Expected \`RATE_LIMIT_ALGORITHM\` to be one of ${algorithms.map(name => `\`${name}\``).join(', ')}, got \`${algorithm}\``);
	}

	return {
		redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
		redisClient,
		databaseUrl: env.DATABASE_URL || `file:${join(process.cwd(), '.data', 'rate-limit.db')}`,
		limit: positiveInteger(env, 'RATE_LIMIT_LIMIT', 10),
		windowMs: positiveInteger(env, 'RATE_LIMIT_WINDOW_MS', 60_000),
		algorithm: algorithm as Algorithm,
		trustProxy: env.TRUST_PROXY === '1',
		failOpen: env.RATE_LIMIT_FAIL_OPEN === '1',
		cooldownMs: positiveInteger(env, 'RATE_LIMIT_COOLDOWN_MS', 5000),
		...(redisClusterNodes ? {redisClusterNodes} : {}),
		...(sentinels ? {redisSentinel: {sentinels, name: env.REDIS_SENTINEL_NAME || 'mymaster'}} : {}),
	};
}
