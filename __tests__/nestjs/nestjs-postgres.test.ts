/*
examples/nestjs with DATABASE_URL=postgres://…: the fallback counts in PostgreSQL (the machine's local service; jest
leaves this file out when it does not answer). `npm run test:nestjs`.
*/
import {RedisServer} from '../servers/redis-server.js';
import {count, get, herd, startApp, statuses, type App} from '../helpers/example-app.js';

jest.setTimeout(240_000);

const databaseUrl = process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : 'postgresql://postgres@127.0.0.1:5432/test';

let server: RedisServer;
let app: App;

beforeAll(async () => {
	server = await RedisServer.start();
	app = await startApp('nestjs', {
		REDIS_URL: server.url, DATABASE_URL: databaseUrl, TRUST_PROXY: '1', RATE_LIMIT_LIMIT: '5', RATE_LIMIT_COOLDOWN_MS: '300',
	});
});

afterAll(async () => {
	await app?.stop();
	await server?.stop();
});

test('Redis killed: the PostgreSQL fallback limits, counting on from Redis\'s count; one log line', async () => {
	// A client address of its own per run: the table outlives the test.
	const client = {'x-forwarded-for': `198.18.${process.pid % 256}.${Date.now() % 256}`};
	expect(await herd(app, 3, '/hello', client)).toEqual(statuses(3, 0));
	await server.kill();
	expect(await herd(app, 5, '/hello', client)).toEqual(statuses(2, 3));
	expect((await get(app, '/health')).status).toBe(200);
	expect(count(app.output(), 'Redis store failed. Falling back to Prisma store for rate limiting.')).toBe(1);
});
