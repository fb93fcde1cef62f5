/*
examples/nestjs over real HTTP: compiled with tsc and served through `npm run example:nestjs`'s script, against a
private redis-server, with the SQLite fallback. `npm run test:nestjs` (not part of `npm test`).
*/
import {cli, RedisServer} from '../servers/redis-server.js';
import {exampleAppContract, limit, startApp} from '../helpers/example-app-contract.js';
import {get, herd, statuses} from '../helpers/example-app.js';

jest.setTimeout(240_000);

const connectedClients = async (server: RedisServer) =>
	Number(/connected_clients:(\d+)/.exec(await cli(server.port, 'INFO', 'clients'))![1]);

exampleAppContract({
	name: 'nestjs',
	hello: '/hello',
	unavailableBody: {statusCode: 503, message: 'Rate limiting is unavailable, please try again later.'},
	alsoLimited: ['/hello/strict'],
	notLimited: ['/health'],
	trustedProxyTests(context) {
		test('headers: X-RateLimit-Limit, -Remaining and -Reset under the limit; 429 with Retry-After over it', async () => {
			const {app} = context();
			const client = {'x-forwarded-for': '203.0.113.2, 10.0.0.1'};
			const first = await get(app, '/hello', client);
			expect(first.status).toBe(200);
			expect(first.body).toEqual({ok: true});
			expect(first.headers.get('x-ratelimit-limit')).toBe('10');
			expect(first.headers.get('x-ratelimit-remaining')).toBe('9');
			expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThanOrEqual(59);
			expect(first.headers.get('retry-after')).toBeNull();

			await herd(app, limit - 1, '/hello', client);
			const over = await get(app, '/hello', client);
			expect(over.status).toBe(429);
			expect(over.body).toMatchObject({statusCode: 429});
			expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
			expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(61);
		});

		test('a named throttler with a blockDuration: `strict` allows 2, then blocks for two windows (Retry-After-strict)', async () => {
			const {app} = context();
			const client = {'x-forwarded-for': '192.0.2.10'};
			expect(await herd(app, 5, '/hello/strict', client)).toEqual(statuses(2, 3));
			const blocked = await get(app, '/hello/strict', client);
			expect(blocked.status).toBe(429);
			// Blocked past the end of the 60 s window: for `blockDuration` (120 s) from the first hit over the limit.
			expect(Number(blocked.headers.get('retry-after-strict'))).toBeGreaterThan(60);
			expect(Number(blocked.headers.get('retry-after-strict'))).toBeLessThanOrEqual(121);
			// The throttler keys each route apart (a hash of controller, handler, throttler and client): /hello is untouched.
			const hello = await get(app, '/hello', client);
			expect(hello.status).toBe(200);
			expect(hello.headers.get('x-ratelimit-remaining')).toBe(String(limit - 1));
		});

		test('GET /health is not limited', async () => {
			const {app} = context();
			expect(await herd(app, 30, '/health', {'x-forwarded-for': '192.0.2.20'})).toEqual(statuses(30, 0));
		});
	},
	async duringOutage(app, client) {
		expect(await herd(app, 5, '/hello/strict', client)).toEqual(statuses(2, 3));
	},
});

test('shutdown (SIGTERM) closes the app\'s one Redis connection and exits 0', async () => {
	const server = await RedisServer.start();
	const app = await startApp('nestjs', {REDIS_URL: server.url});
	try {
		await get(app, '/hello');
		// The app's connection and this INFO's.
		expect(await connectedClients(server)).toBe(2);
	} finally {
		await app.stop();
	}

	expect(await app.exited).toBe(0);
	expect(await connectedClients(server)).toBe(1);
	await server.stop();
});

test.each([
	['RATE_LIMIT_LIMIT', '0'],
	['RATE_LIMIT_WINDOW_MS', 'a minute'],
	['RATE_LIMIT_COOLDOWN_MS', '-5'],
])('a bad %s (%p) stops the app at start with a message naming it', async (name, value) => {
	const server = await RedisServer.start();
	try {
		await expect(startApp('nestjs', {REDIS_URL: server.url, [name]: value})).rejects.toThrow(`Expected \`${name}\` to be a positive integer, got \`${value}\``);
	} finally {
		await server.stop();
	}
});
