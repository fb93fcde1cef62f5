/*
@fastify/rate-limit with the example stores (Redis, with the Prisma fallback on SQLite) over HTTP (`fastify.inject`):
the limit holds on Redis, holds again while Redis is down (the fallback answers), and the circuit closes once Redis is
back.
*/
import rateLimit from '@fastify/rate-limit';
import Fastify, {type FastifyInstance} from 'fastify';
import {Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {fastifyRateLimitStore} from '../../examples/fastify/fastify-store.js';
import {FallbackRateLimitStore, type DecidedBy} from '../../examples/rate-limit/fallback-store.js';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../../examples/rate-limit/redis-store.js';
import {RedisServer} from '../servers/redis-server.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';

jest.setTimeout(60_000);

let server: RedisServer;
let client: Redis;
let cleanupPrisma: () => Promise<void>;
let prismaStore: PrismaRateLimitStore;
let store: FallbackRateLimitStore;
let app: FastifyInstance;
let offset = 0;
const decisions: DecidedBy[] = [];

beforeAll(async () => {
	server = await RedisServer.start();
	client = new Redis({
		port: server.port, lazyConnect: true, retryStrategy: () => 20, disconnectTimeout: 100,
		autoResendUnfulfilledCommands: false,
	});
	client.on('error', () => undefined);
	const sqlite = await sqlitePrisma();
	cleanupPrisma = sqlite.cleanup;
	const prefix = uniquePrefix('fastify');
	prismaStore = new PrismaRateLimitStore({prisma: sqlite.prisma, windowMs: 60_000, prefix, cleanupIntervalMs: 0});
	store = new FallbackRateLimitStore(
		new RedisRateLimitStore({redis: guardedRedis(client), windowMs: 60_000, prefix, timeoutMs: 1000}),
		prismaStore,
		{cooldownMs: 1000, logger: {warn() {}, info() {}}, now: () => Date.now() + offset},
	);
	store.on('decision', decidedBy => decisions.push(decidedBy));

	app = Fastify();
	await app.register(rateLimit, {max: 3, timeWindow: 60_000, store: fastifyRateLimitStore(store)});
	app.get('/', async () => 'ok');
	await app.ready();
});

afterAll(async () => {
	await app.close();
	client.disconnect();
	await prismaStore.shutdown();
	await server.stop();
	await cleanupPrisma();
});

/** Four requests from one client address: three pass with the limit headers, the fourth is refused. */
async function expectLimitHolds(remoteAddress: string) {
	for (const remaining of [2, 1, 0]) {
		// eslint-disable-next-line no-await-in-loop
		const response = await app.inject({method: 'GET', url: '/', remoteAddress});
		expect(response.statusCode).toBe(200);
		expect(response.headers['x-ratelimit-limit']).toBe('3');
		expect(response.headers['x-ratelimit-remaining']).toBe(String(remaining));
		expect(Number(response.headers['x-ratelimit-reset'])).toBeGreaterThan(55);
	}

	const limited = await app.inject({method: 'GET', url: '/', remoteAddress});
	expect(limited.statusCode).toBe(429);
	expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
}

test('the limit holds on Redis', async () => {
	await expectLimitHolds('10.0.0.1');
	expect(decisions.splice(0)).toEqual(['primary', 'primary', 'primary', 'primary']);
	expect(store.circuitOpen).toBe(false);
});

test('with Redis down the fallback answers and the limit holds again; once Redis is back the circuit closes', async () => {
	const retrying = new Promise(resolve => {
		client.once('reconnecting', resolve);
	});
	await server.kill();
	await retrying;
	await expectLimitHolds('10.0.0.2');
	expect(decisions.splice(0)).toEqual(['fallback', 'fallback', 'fallback', 'fallback']);
	expect(store.circuitOpen).toBe(true);

	const ready = new Promise(resolve => {
		client.once('ready', resolve);
	});
	await server.restart();
	await ready;
	offset += 1000;
	await expectLimitHolds('10.0.0.3');
	expect(decisions.splice(0)).toEqual(['primary', 'primary', 'primary', 'primary']);
	expect(store.circuitOpen).toBe(false);
});
