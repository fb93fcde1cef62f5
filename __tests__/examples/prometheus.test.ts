/*
The Prometheus exporter over HTTP, on a real redis-server with the SQLite fallback: scrape /metrics after a cold start
and across an outage (Redis killed, then back).
*/
import type {Server} from 'node:http';
import {Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {createGuardMetrics, serveMetrics, type GuardMetrics} from '../../examples/observability/prometheus.js';
import {FallbackRateLimitStore} from '../../examples/rate-limit/fallback-store.js';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../../examples/rate-limit/redis-store.js';
import {RedisServer} from '../servers/redis-server.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';

jest.setTimeout(60_000);

let server: RedisServer;
let metrics: GuardMetrics;
let http: {server: Server; url: string};
let cleanupPrisma: () => Promise<void>;
let client: Redis;
let store: FallbackRateLimitStore;
let offset = 0;

beforeAll(async () => {
	server = await RedisServer.start();
	const sqlite = await sqlitePrisma();
	cleanupPrisma = sqlite.cleanup;
	client = new Redis({port: server.port, lazyConnect: true, retryStrategy: () => 20, disconnectTimeout: 100});
	client.on('error', () => undefined);
	const prefix = uniquePrefix('metrics');
	const redisStore = new RedisRateLimitStore({redis: guardedRedis(client), windowMs: 60_000, prefix, timeoutMs: 1000});
	const prismaStore = new PrismaRateLimitStore({prisma: sqlite.prisma, windowMs: 60_000, prefix, cleanupIntervalMs: 0});
	const logger = {warn: jest.fn(), info: jest.fn()};
	store = new FallbackRateLimitStore(redisStore, prismaStore, {
		cooldownMs: 1000, logger, now: () => Date.now() + offset,
	});
	metrics = createGuardMetrics();
	metrics.observeStore(store);
	http = await serveMetrics(metrics.registry, {port: 0});
});

afterAll(async () => {
	metrics.close();
	http.server.close();
	client.disconnect();
	await server.stop();
	await cleanupPrisma();
});

/** One scrape over HTTP, as Prometheus does it: `name{labels}` → value. */
async function scrape(): Promise<Map<string, number>> {
	const response = await fetch(http.url);
	expect(response.status).toBe(200);
	expect(response.headers.get('content-type')).toContain('text/plain');
	const samples = new Map<string, number>();
	for (const line of (await response.text()).split('\n')) {
		const match = /^(\w+(?:{[^}]*})?) (\S+)$/.exec(line);
		if (match) {
			samples.set(match[1]!, Number(match[2]));
		}
	}

	return samples;
}

test('after a cold start: one attempt, ready, every waiting call counted, decisions by Redis, circuit closed', async () => {
	await Promise.all(Array.from({length: 50}, async (_, index) => store.increment(`cold-${index % 5}`)));
	const samples = await scrape();
	expect(samples.get('connection_guard_attempts_total{outcome="ready"}')).toBe(1);
	expect(samples.get('connection_guard_attempts_total{outcome="CONNECT_FAILED"}')).toBe(0);
	expect(samples.get('connection_guard_time_to_ready_seconds_count')).toBe(1);
	expect(samples.get('connection_guard_time_to_ready_seconds_sum')).toBeGreaterThan(0);
	// All 50 increments asked before the client was ready; none since (the fast path is not counted).
	expect(samples.get('connection_guard_waits_total{outcome="ready"}')).toBe(50);
	expect(samples.get('connection_guard_waits_total{outcome="TIMEOUT"}')).toBe(0);
	expect(samples.get('rate_limit_decisions_total{store="redis"}')).toBe(50);
	expect(samples.get('rate_limit_decisions_total{store="fallback"}')).toBe(0);
	expect(samples.get('rate_limit_circuit_open')).toBe(0);
});

test('an outage: the circuit opens and the fallback decides; once Redis is back and the cooldown passed, it closes', async () => {
	const retrying = new Promise(resolve => {
		client.once('reconnecting', resolve);
	});
	await server.kill();
	await retrying;
	// The guard fails fast while ioredis is between tries: the fallback answers at once.
	await Promise.all(Array.from({length: 10}, async (_, index) => store.increment(`outage-${index}`)));
	const during = await scrape();
	expect(during.get('rate_limit_circuit_open')).toBe(1);
	expect(during.get('rate_limit_decisions_total{store="fallback"}')).toBe(10);
	expect(during.get('connection_guard_waits_total{outcome="CONNECT_FAILED"}')).toBeGreaterThanOrEqual(1);

	const ready = new Promise(resolve => {
		client.once('ready', resolve);
	});
	await server.restart();
	await ready;
	offset += 1000;
	await store.increment('after');
	await store.increment('after');
	const after = await scrape();
	expect(after.get('rate_limit_circuit_open')).toBe(0);
	expect(after.get('rate_limit_decisions_total{store="redis"}')).toBe(52);
	expect(after.get('rate_limit_decisions_total{store="fallback"}')).toBe(10);
});
