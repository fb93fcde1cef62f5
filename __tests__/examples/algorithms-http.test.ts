/*
The sliding window and the token bucket through the hosts, over HTTP on a real redis-server: express-rate-limit (its
`Store`) and @fastify/rate-limit (fastifyRateLimitStore) admit `limit`, refuse the next with a Retry-After, and a client
that waits exactly that long is let through. The stores' clock (`now`) is moved instead of waiting; it starts 5 s ahead
of the real one, which the hosts read to turn resetTime into Retry-After: the header then says a little more than the
store's wait, never less, however slow the machine.
*/
import rateLimit from '@fastify/rate-limit';
import express from 'express';
import {rateLimit as expressRateLimit} from 'express-rate-limit';
import Fastify from 'fastify';
import {Redis} from 'ioredis';
import supertest from 'supertest';
import {fastifyRateLimitStore} from '../../examples/fastify/fastify-store.js';
import {RedisRateLimitStore} from '../../examples/rate-limit/redis-store.js';
import {RedisServer} from '../servers/redis-server.js';
import {uniquePrefix} from '../helpers/stores.js';

jest.setTimeout(60_000);

let server: RedisServer;
let client: Redis;
beforeAll(async () => {
	server = await RedisServer.start();
	client = new Redis({port: server.port, lazyConnect: true, autoResendUnfulfilledCommands: false});
	client.on('error', () => undefined);
});

afterAll(async () => {
	client.disconnect();
	await server.stop();
});

// 3 per 30 s: a token every 10 s; the sliding window's previous window weighs for up to 30 s more.
const limit = 3;
const windowMs = 30_000;

describe.each(['sliding-window', 'token-bucket'] as const)('%s', algorithm => {
	let now = 0;
	beforeEach(() => {
		now = Date.now() + 5000;
	});
	const store = () => new RedisRateLimitStore({
		redis: client, windowMs, prefix: uniquePrefix('http'), algorithm, now: () => now,
	});

	test('express-rate-limit: `limit` admitted, then 429 with a Retry-After that is enough, to the second', async () => {
		const app = express();
		app.use(expressRateLimit({windowMs, limit, store: store(), standardHeaders: 'draft-8', legacyHeaders: false}));
		app.get('/', (_request, response) => {
			response.send('ok');
		});
		const statuses = [];
		for (let index = 0; index < limit; index++) {
			// eslint-disable-next-line no-await-in-loop
			statuses.push((await supertest(app).get('/')).status);
		}

		expect(statuses).toEqual([200, 200, 200]);
		const refused = await supertest(app).get('/');
		expect(refused.status).toBe(429);
		const retryAfter = Number(refused.headers['retry-after']);
		expect(retryAfter).toBeGreaterThanOrEqual(1);
		expect(retryAfter).toBeLessThanOrEqual((2 * windowMs / 1000) + 5);
		now += retryAfter * 1000;
		expect((await supertest(app).get('/')).status).toBe(200);
	});

	test('@fastify/rate-limit: the same through fastifyRateLimitStore', async () => {
		const app = Fastify();
		await app.register(rateLimit, {max: limit, timeWindow: windowMs, store: fastifyRateLimitStore(store())});
		app.get('/', async () => 'ok');
		await app.ready();
		try {
			const statuses = [];
			for (let index = 0; index < limit; index++) {
				// eslint-disable-next-line no-await-in-loop
				statuses.push((await app.inject({method: 'GET', url: '/'})).statusCode);
			}

			expect(statuses).toEqual([200, 200, 200]);
			const refused = await app.inject({method: 'GET', url: '/'});
			expect(refused.statusCode).toBe(429);
			const retryAfter = Number(refused.headers['retry-after']);
			expect(retryAfter).toBeGreaterThanOrEqual(1);
			now += retryAfter * 1000;
			expect((await app.inject({method: 'GET', url: '/'})).statusCode).toBe(200);
		} finally {
			await app.close();
		}
	});
});
