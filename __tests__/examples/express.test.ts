import express from 'express';
import {rateLimit, type Store} from 'express-rate-limit';
import {Redis} from 'ioredis';
import request from 'supertest';
import {guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore} from '../../examples/rate-limit/fallback-store.js';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../../examples/rate-limit/redis-store.js';
import type {RateLimitPrisma} from '../../examples/rate-limit/prisma-clients.js';
import {RedisServer} from '../servers/redis-server.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';

jest.setTimeout(30_000);

let server: RedisServer;
let client: Redis;
let prisma: RateLimitPrisma;
let cleanupPrisma: () => Promise<void>;

beforeAll(async () => {
	server = await RedisServer.start();
	// As the store asks: no resend of a command it gave up on, and an `error` listener.
	client = new Redis({port: server.port, lazyConnect: true, autoResendUnfulfilledCommands: false});
	client.on('error', () => undefined);
	({prisma, cleanup: cleanupPrisma} = await sqlitePrisma());
});

afterAll(async () => {
	await guardedRedis(client).close();
	await server.stop();
	await cleanupPrisma();
});

const stores: Record<string, () => Store> = {
	RedisRateLimitStore: () => new RedisRateLimitStore({redis: guardedRedis(client), windowMs: 1000, prefix: uniquePrefix('http')}),
	PrismaRateLimitStore: () => new PrismaRateLimitStore({prisma, windowMs: 1000, prefix: uniquePrefix('http'), cleanupIntervalMs: 0}),
	FallbackRateLimitStore: () => new FallbackRateLimitStore(
		new RedisRateLimitStore({redis: guardedRedis(client), windowMs: 1000, prefix: uniquePrefix('http')}),
		new PrismaRateLimitStore({prisma, windowMs: 1000, prefix: uniquePrefix('http'), cleanupIntervalMs: 0}),
	),
};

describe.each(Object.entries(stores))('express-rate-limit with %s in a real HTTP server', (_name, createStore) => {
	test('allows `limit` requests per window, then answers 429, with the standard headers', async () => {
		const app = express();
		// The store's own window is replaced by the middleware's through init().
		app.use(rateLimit({windowMs: 60_000, limit: 3, standardHeaders: 'draft-6', legacyHeaders: false, store: createStore()}));
		app.get('/', (_request, response) => {
			response.send('ok');
		});

		const agent = request(app);
		for (const remaining of [2, 1, 0]) {
			// eslint-disable-next-line no-await-in-loop
			const response = await agent.get('/');
			expect(response.status).toBe(200);
			expect(response.headers['ratelimit-limit']).toBe('3');
			expect(response.headers['ratelimit-remaining']).toBe(String(remaining));
			const reset = Number(response.headers['ratelimit-reset']);
			expect(reset).toBeGreaterThan(55);
			expect(reset).toBeLessThanOrEqual(60);
		}

		const limited = await agent.get('/');
		expect(limited.status).toBe(429);
		expect(limited.headers['ratelimit-remaining']).toBe('0');
		expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
	});
});
