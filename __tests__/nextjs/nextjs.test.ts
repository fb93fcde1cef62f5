/*
examples/nextjs over real HTTP: built with `next build`, served with `next start` through `npm run example:nextjs`'s
script, against a private redis-server, with the SQLite fallback. `npm run test:nextjs` (not part of `npm test`).
*/
import {cli, freePort, RedisServer} from '../servers/redis-server.js';
import {
	connectionsReceived, count, get, herd, requestUntil, startApp as startExampleApp, statuses, type App,
} from '../helpers/example-app.js';

jest.setTimeout(240_000);

const limit = 10;

const startApp = async (env: Record<string, string>): Promise<App> => startExampleApp('nextjs', {
	RATE_LIMIT_LIMIT: String(limit),
	RATE_LIMIT_WINDOW_MS: '60000',
	RATE_LIMIT_COOLDOWN_MS: '300',
	...env,
});

const fallbackLine = 'Redis store failed. Falling back to Prisma store for rate limiting.';
const recoveredLine = 'Redis store recovered. Back to Redis store for rate limiting.';

describe('behind a trusted proxy (TRUST_PROXY=1): the route handler and proxy.ts on the same limiter', () => {
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
		expect(await herd(app, 200, '/api/hello', {'x-forwarded-for': '203.0.113.1'})).toEqual(statuses(limit, 190));
		// This INFO call is a connection too: the app opened exactly one.
		expect(await connectionsReceived(server) - before).toBe(2);
		expect(app.output()).not.toContain(fallbackLine);
	});

	test('headers: RateLimit and RateLimit-Policy (draft-8) under the limit; 429 adds Retry-After', async () => {
		const client = {'x-forwarded-for': '203.0.113.2, 10.0.0.1'};
		const first = await get(app, '/api/hello', client);
		expect(first.status).toBe(200);
		expect(first.body).toEqual({ok: true});
		expect(first.headers.get('ratelimit')).toMatch(/^"10-in-60s"; r=9; t=(59|60)$/);
		expect(first.headers.get('ratelimit-policy')).toMatch(/^"10-in-60s"; q=10; w=60; pk=:[\w+/=]+:$/);
		expect(first.headers.get('retry-after')).toBeNull();

		await herd(app, limit - 1, '/api/hello', client);
		const over = await get(app, '/api/hello', client);
		expect(over.status).toBe(429);
		expect(over.headers.get('ratelimit')).toMatch(/^"10-in-60s"; r=0; t=\d+$/);
		expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
		expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(60);
	});

	test('two clients (first X-Forwarded-For hop) are counted apart', async () => {
		const [a, b] = await Promise.all([
			herd(app, 15, '/api/hello', {'x-forwarded-for': '198.51.100.1'}),
			herd(app, 15, '/api/hello', {'x-forwarded-for': '198.51.100.2, 203.0.113.9'}),
		]);
		expect(a).toEqual(statuses(limit, 5));
		expect(b).toEqual(statuses(limit, 5));
	});

	test('proxy.ts limits /api/limited/* the same way, with its own counters and the same headers', async () => {
		const client = {'x-forwarded-for': '192.0.2.44'};
		expect(await herd(app, 30, '/api/limited/a/b', client)).toEqual(statuses(limit, 20));
		const over = await get(app, '/api/limited/c', client);
		expect(over.status).toBe(429);
		expect(over.headers.get('retry-after')).not.toBeNull();
		const other = await get(app, '/api/limited/c', {'x-forwarded-for': '192.0.2.45'});
		expect(other).toMatchObject({status: 200, body: {ok: true, path: '/api/limited/c'}});
		expect(other.headers.get('ratelimit')).toMatch(/^"10-in-60s"; r=9; t=\d+$/);
	});

	test('Redis killed: still limited, by the Prisma fallback, with one log line; Redis back: back on Redis', async () => {
		await server.kill();
		const client = {'x-forwarded-for': '198.51.100.77'};
		expect(await herd(app, 15, '/api/hello', client)).toEqual(statuses(limit, 5));
		expect(await herd(app, 15, '/api/limited/x', client)).toEqual(statuses(limit, 5));
		expect(count(app.output(), fallbackLine)).toBe(1);

		await server.restart();
		// A request after RATE_LIMIT_COOLDOWN_MS (300 ms here) probes Redis.
		await requestUntil(app, '/api/hello', {'x-forwarded-for': '198.51.100.78'}, () => app.output().includes(recoveredLine));

		expect(count(app.output(), recoveredLine)).toBe(1);
		// Counted in Redis again.
		await get(app, '/api/hello', {'x-forwarded-for': '198.51.100.79'});
		expect(await cli(server.port, '--scan', '--pattern', 'rl:next:*198.51.100.79*')).not.toBe('');
		expect(count(app.output(), fallbackLine)).toBe(1);
	});
});

test('without TRUST_PROXY, X-Forwarded-For is ignored: every client shares one key', async () => {
	const server = await RedisServer.start();
	const app = await startApp({REDIS_URL: server.url});
	try {
		const [a, b] = await Promise.all([
			herd(app, 8, '/api/hello', {'x-forwarded-for': '198.51.100.1'}),
			herd(app, 8, '/api/hello', {'x-forwarded-for': '198.51.100.2'}),
		]);
		expect([...a, ...b].sort()).toEqual(statuses(limit, 6));
	} finally {
		await app.stop();
		await server.stop();
	}
});

describe('both stores down (Redis refused, the fallback database unreachable)', () => {
	const down = async (): Promise<Record<string, string>> => ({
		REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
		DATABASE_URL: `postgresql://postgres@127.0.0.1:${await freePort()}/test`,
	});

	test('fails closed by default: 503 with Retry-After and a JSON body, never a 500 or a stack trace', async () => {
		const app = await startApp(await down());
		try {
			const response = await get(app, '/api/hello');
			expect(response.status).toBe(503);
			expect(response.headers.get('retry-after')).toBe('5');
			expect(response.body).toEqual({error: 'Rate limiting is unavailable, please try again later.'});
			expect((await get(app, '/api/limited/x')).status).toBe(503);
		} finally {
			await app.stop();
		}
	});

	test('fails open with RATE_LIMIT_FAIL_OPEN=1: the request goes through', async () => {
		const app = await startApp({...await down(), RATE_LIMIT_FAIL_OPEN: '1'});
		try {
			expect(await get(app, '/api/hello')).toMatchObject({status: 200, body: {ok: true}});
		} finally {
			await app.stop();
		}
	});
});
