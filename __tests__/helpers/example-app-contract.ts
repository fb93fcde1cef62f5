// What every example app (examples/nextjs, examples/nestjs) must do over HTTP, as one suite each app's test file runs
// with its own routes, plus its own tests: the same limiter behaviour, whatever the framework.
import {cli, freePort, RedisServer} from '../servers/redis-server.js';
import {
	connectionsReceived, count, get, herd, requestUntil, startApp as startExampleApp, statuses, type App,
} from './example-app.js';

export const limit = 10;
export const fallbackLine = 'Redis store failed. Falling back to Prisma store for rate limiting.';
export const recoveredLine = 'Redis store recovered. Back to Redis store for rate limiting.';

export type ExampleAppSpec = {
	name: 'nextjs' | 'nestjs';
	/** The route limited by RATE_LIMIT_LIMIT per window and client, answering `{ok: true}`. */
	hello: string;
	/** What a 503 (both stores down) has in its JSON body. */
	unavailableBody: Record<string, unknown>;
	/** More routes: limited ones answer 503 too with both stores down, unlimited ones still 200. */
	alsoLimited?: string[];
	notLimited?: string[];
	/** The app's own tests on the trusted-proxy app, run while Redis is up. */
	trustedProxyTests?(context: () => {app: App; server: RedisServer}): void;
	/** With Redis down, after `hello` was limited by the fallback: the app's other limited routes. */
	duringOutage?(app: App, client: Record<string, string>): Promise<void>;
};

export const startApp = async (name: ExampleAppSpec['name'], env: Record<string, string>): Promise<App> => startExampleApp(name, {
	RATE_LIMIT_LIMIT: String(limit),
	RATE_LIMIT_WINDOW_MS: '60000',
	RATE_LIMIT_COOLDOWN_MS: '300',
	...env,
});

export function exampleAppContract(spec: ExampleAppSpec): void {
	const {name, hello} = spec;

	describe('behind a trusted proxy (TRUST_PROXY=1)', () => {
		let server: RedisServer;
		let app: App;

		beforeAll(async () => {
			server = await RedisServer.start();
			app = await startApp(name, {REDIS_URL: server.url, TRUST_PROXY: '1'});
		});

		afterAll(async () => {
			await app?.stop();
			await server?.stop();
		});

		test('a cold herd of 200 from one client: exactly RATE_LIMIT_LIMIT allowed, the rest 429, one connection to Redis', async () => {
			const before = await connectionsReceived(server);
			expect(await herd(app, 200, hello, {'x-forwarded-for': '203.0.113.1'})).toEqual(statuses(limit, 190));
			// This INFO call is a connection too: the app opened exactly one.
			expect(await connectionsReceived(server) - before).toBe(2);
			expect(app.output()).not.toContain(fallbackLine);
		});

		test('two clients (first X-Forwarded-For hop) are counted apart', async () => {
			const [a, b] = await Promise.all([
				herd(app, 15, hello, {'x-forwarded-for': '198.51.100.1'}),
				herd(app, 15, hello, {'x-forwarded-for': '198.51.100.2, 203.0.113.9'}),
			]);
			expect(a).toEqual(statuses(limit, 5));
			expect(b).toEqual(statuses(limit, 5));
		});

		spec.trustedProxyTests?.(() => ({app, server}));

		test('Redis killed: still limited, by the Prisma fallback, with one log line; Redis back: back on Redis', async () => {
			await server.kill();
			const client = {'x-forwarded-for': '198.51.100.77'};
			expect(await herd(app, 15, hello, client)).toEqual(statuses(limit, 5));
			await spec.duringOutage?.(app, client);
			expect(count(app.output(), fallbackLine)).toBe(1);

			await server.restart();
			// A request after RATE_LIMIT_COOLDOWN_MS (300 ms here) probes Redis.
			await requestUntil(app, hello, {'x-forwarded-for': '198.51.100.78'}, () => app.output().includes(recoveredLine));
			expect(count(app.output(), recoveredLine)).toBe(1);
			// The fallback's counts were handed to Redis: the client is still over its limit there.
			expect((await get(app, hello, client)).status).toBe(429);
			// A new client is counted in Redis again: one more key.
			const keys = Number(await cli(server.port, 'DBSIZE'));
			expect((await get(app, hello, {'x-forwarded-for': '198.51.100.79'})).status).toBe(200);
			expect(Number(await cli(server.port, 'DBSIZE'))).toBe(keys + 1);
			expect(count(app.output(), fallbackLine)).toBe(1);
		});
	});

	test('on node-redis (REDIS_CLIENT=node-redis): a cold herd makes one connection; Redis killed, still limited; back on Redis', async () => {
		const server = await RedisServer.start();
		const app = await startApp(name, {REDIS_URL: server.url, TRUST_PROXY: '1', REDIS_CLIENT: 'node-redis'});
		try {
			const before = await connectionsReceived(server);
			expect(await herd(app, 50, hello, {'x-forwarded-for': '203.0.113.50'})).toEqual(statuses(limit, 40));
			// This INFO call is a connection too: the app opened exactly one.
			expect(await connectionsReceived(server) - before).toBe(2);

			await server.kill();
			const client = {'x-forwarded-for': '198.51.100.50'};
			expect(await herd(app, 15, hello, client)).toEqual(statuses(limit, 5));
			expect(count(app.output(), fallbackLine)).toBe(1);
			await server.restart();
			await requestUntil(app, hello, {'x-forwarded-for': '198.51.100.51'}, () => app.output().includes(recoveredLine));
			expect((await get(app, hello, client)).status).toBe(429);
			expect(app.output()).not.toMatch(/Unhandled|TypeError/);
		} finally {
			await app.stop();
			await server.stop();
		}
	});

	test('without TRUST_PROXY, X-Forwarded-For is ignored: every client shares one key', async () => {
		const server = await RedisServer.start();
		const app = await startApp(name, {REDIS_URL: server.url});
		try {
			const [a, b] = await Promise.all([
				herd(app, 8, hello, {'x-forwarded-for': '198.51.100.1'}),
				herd(app, 8, hello, {'x-forwarded-for': '198.51.100.2'}),
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
			const app = await startApp(name, await down());
			try {
				const response = await get(app, hello);
				expect(response.status).toBe(503);
				expect(response.headers.get('retry-after')).toBe('5');
				expect(response.body).toMatchObject(spec.unavailableBody);
				for (const path of spec.alsoLimited ?? []) {
					// eslint-disable-next-line no-await-in-loop
					expect((await get(app, path)).status).toBe(503);
				}

				for (const path of spec.notLimited ?? []) {
					// eslint-disable-next-line no-await-in-loop
					expect((await get(app, path)).status).toBe(200);
				}
			} finally {
				await app.stop();
			}
		});

		test('fails open with RATE_LIMIT_FAIL_OPEN=1: the request goes through', async () => {
			const app = await startApp(name, {...await down(), RATE_LIMIT_FAIL_OPEN: '1'});
			try {
				expect(await get(app, hello)).toMatchObject({status: 200, body: {ok: true}});
			} finally {
				await app.stop();
			}
		});
	});
}
