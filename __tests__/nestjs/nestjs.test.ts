/*
examples/nestjs over real HTTP: compiled with tsc and served through `npm run example:nestjs`'s script, against a
private redis-server, with the SQLite fallback. `npm run test:nestjs` (not part of `npm test`).
*/
import {cli, freePort, RedisServer} from '../servers/redis-server.js';
import {
	connectionsReceived, count, get, herd, requestUntil, startApp as startExampleApp, statuses, type App,
} from '../helpers/example-app.js';

jest.setTimeout(240_000);

const limit = 10;

const startApp = async (env: Record<string, string>): Promise<App> => startExampleApp('nestjs', {
	RATE_LIMIT_LIMIT: String(limit),
	RATE_LIMIT_WINDOW_MS: '60000',
	RATE_LIMIT_COOLDOWN_MS: '300',
	...env,
});

const fallbackLine = 'Redis store failed. Falling back to Prisma store for rate limiting.';
const recoveredLine = 'Redis store recovered. Back to Redis store for rate limiting.';

const connectedClients = async (server: RedisServer) =>
	Number(/connected_clients:(\d+)/.exec(await cli(server.port, 'INFO', 'clients'))![1]);

describe('behind a trusted proxy (TRUST_PROXY=1): @nestjs/throttler on the guarded store with its Prisma fallback', () => {
	let server: RedisServer;
	let app: App;

	beforeAll(async () => {
		server = await RedisServer.start();
		app = await startApp({REDIS_URL: server.url, TRUST_PROXY: '1'});
	});

	afterAll(async () => {
		await app?.stop();
		await server?.stop();
	});

	test('a cold herd of 200 from one client: exactly RATE_LIMIT_LIMIT allowed, the rest 429, one connection to Redis', async () => {
		const before = await connectionsReceived(server);
		expect(await herd(app, 200, '/hello', {'x-forwarded-for': '203.0.113.1'})).toEqual(statuses(limit, 190));
		// This INFO call is a connection too: the app opened exactly one.
		expect(await connectionsReceived(server) - before).toBe(2);
		expect(app.output()).not.toContain(fallbackLine);
	});

	test('headers: X-RateLimit-Limit, -Remaining and -Reset under the limit; 429 with Retry-After over it', async () => {
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

	test('two clients (first X-Forwarded-For hop) are counted apart', async () => {
		const [a, b] = await Promise.all([
			herd(app, 15, '/hello', {'x-forwarded-for': '198.51.100.1'}),
			herd(app, 15, '/hello', {'x-forwarded-for': '198.51.100.2, 203.0.113.9'}),
		]);
		expect(a).toEqual(statuses(limit, 5));
		expect(b).toEqual(statuses(limit, 5));
	});

	test('a named throttler with a blockDuration: `strict` allows 2, then blocks for two windows (Retry-After-strict)', async () => {
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
		expect(await herd(app, 30, '/health', {'x-forwarded-for': '192.0.2.20'})).toEqual(statuses(30, 0));
	});

	test('Redis killed: still limited, by the Prisma fallback, with one log line; Redis back: back on Redis', async () => {
		await server.kill();
		const client = {'x-forwarded-for': '198.51.100.77'};
		expect(await herd(app, 15, '/hello', client)).toEqual(statuses(limit, 5));
		expect(await herd(app, 5, '/hello/strict', client)).toEqual(statuses(2, 3));
		expect(count(app.output(), fallbackLine)).toBe(1);

		await server.restart();
		await requestUntil(app, '/hello', {'x-forwarded-for': '198.51.100.78'}, () => app.output().includes(recoveredLine));
		expect(count(app.output(), recoveredLine)).toBe(1);
		// The fallback's counts were handed to Redis: the client is still over its limit there.
		expect((await get(app, '/hello', client)).status).toBe(429);
		// A new client is counted in Redis again: one more key.
		const keys = Number(await cli(server.port, 'DBSIZE'));
		expect((await get(app, '/hello', {'x-forwarded-for': '198.51.100.79'})).status).toBe(200);
		expect(Number(await cli(server.port, 'DBSIZE'))).toBe(keys + 1);
		expect(count(app.output(), fallbackLine)).toBe(1);
	});
});

test('without TRUST_PROXY, X-Forwarded-For is ignored: every client shares the socket address\'s key', async () => {
	const server = await RedisServer.start();
	const app = await startApp({REDIS_URL: server.url});
	try {
		const [a, b] = await Promise.all([
			herd(app, 8, '/hello', {'x-forwarded-for': '198.51.100.1'}),
			herd(app, 8, '/hello', {'x-forwarded-for': '198.51.100.2'}),
		]);
		expect([...a, ...b].sort()).toEqual(statuses(limit, 6));
	} finally {
		await app.stop();
		await server.stop();
	}
});

test('shutdown (SIGTERM) closes the app\'s one Redis connection and exits 0', async () => {
	const server = await RedisServer.start();
	const app = await startApp({REDIS_URL: server.url});
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

describe('both stores down (Redis refused, the fallback database unreachable)', () => {
	const down = async (): Promise<Record<string, string>> => ({
		REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
		DATABASE_URL: `postgresql://postgres@127.0.0.1:${await freePort()}/test`,
	});

	test('fails closed by default: 503 with Retry-After, never a 500; /health still answers', async () => {
		const app = await startApp(await down());
		try {
			const response = await get(app, '/hello');
			expect(response.status).toBe(503);
			expect(response.headers.get('retry-after')).toBe('5');
			expect(response.body).toMatchObject({statusCode: 503, message: 'Rate limiting is unavailable, please try again later.'});
			expect((await get(app, '/health')).status).toBe(200);
		} finally {
			await app.stop();
		}
	});

	test('fails open with RATE_LIMIT_FAIL_OPEN=1: the request goes through', async () => {
		const app = await startApp({...await down(), RATE_LIMIT_FAIL_OPEN: '1'});
		try {
			expect(await get(app, '/hello')).toMatchObject({status: 200, body: {ok: true}});
		} finally {
			await app.stop();
		}
	});
});

test.each([
	['RATE_LIMIT_LIMIT', '0'],
	['RATE_LIMIT_WINDOW_MS', 'a minute'],
	['RATE_LIMIT_COOLDOWN_MS', '-5'],
])('a bad %s (%p) stops the app at start with a message naming it', async (name, value) => {
	const server = await RedisServer.start();
	try {
		await expect(startApp({REDIS_URL: server.url, [name]: value})).rejects.toThrow(`Expected \`${name}\` to be a positive integer, got \`${value}\``);
	} finally {
		await server.stop();
	}
});
