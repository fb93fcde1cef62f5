/*
examples/nestjs over real HTTP: compiled with tsc and served through `npm run example:nestjs`'s script, against a
private redis-server, with the SQLite fallback. `npm run test:nestjs` (not part of `npm test`).
*/
import {cli, freePort, RedisCluster, RedisServer} from '../servers/redis-server.js';
import {RedisSentinelTopology} from '../servers/redis-sentinel.js';
import {exampleAppContract, fallbackLine, limit, startApp} from '../helpers/example-app-contract.js';
import {get, herd, statuses, type App} from '../helpers/example-app.js';

jest.setTimeout(240_000);

const connectedClients = async (server: RedisServer) =>
	Number(/connected_clients:(\d+)/.exec(await cli(server.port, 'INFO', 'clients'))![1]);

exampleAppContract({
	name: 'nestjs',
	hello: '/hello',
	unavailableBody: {statusCode: 503, message: 'Rate limiting is unavailable, please try again later.'},
	alsoLimited: ['/hello/strict'],
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
			// Blocked past the end of the 60 s window: `blockDuration` (120 s) from the first hit over the limit, never more.
			expect(Number(blocked.headers.get('retry-after-strict'))).toBeGreaterThan(60);
			expect(Number(blocked.headers.get('retry-after-strict'))).toBeLessThanOrEqual(120);
			// The throttler keys each route apart (a hash of controller, handler, throttler and client): /hello is untouched.
			const hello = await get(app, '/hello', client);
			expect(hello.status).toBe(200);
			expect(hello.headers.get('x-ratelimit-remaining')).toBe(String(limit - 1));
		});

		test('GET /health is not limited, and says both stores answer', async () => {
			const {app} = context();
			expect(await herd(app, 30, '/health', {'x-forwarded-for': '192.0.2.20'})).toEqual(statuses(30, 0));
			expect((await get(app, '/health')).body).toEqual({status: 'ok', redis: 'up', database: 'up'});
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

describe('GET /health, a readiness check: Redis through the guard, the fallback database with a query', () => {
	test('Redis down: still ready (the fallback limits), degraded; Redis back: ok', async () => {
		const server = await RedisServer.start();
		const app = await startApp('nestjs', {REDIS_URL: server.url});
		try {
			expect(await get(app, '/health')).toMatchObject({status: 200, body: {status: 'ok', redis: 'up', database: 'up'}});
			await server.kill();
			expect(await get(app, '/health')).toMatchObject({status: 200, body: {status: 'degraded', redis: 'down', database: 'up'}});
			await server.restart();
			// Down until the client has reconnected (its own retry delay): asked every 100 ms, for 10 s at most.
			let health = await get(app, '/health');
			for (let tries = 0; tries < 100 && health.body.redis !== 'up'; tries++) {
				// eslint-disable-next-line no-await-in-loop
				await new Promise(resolve => {
					setTimeout(resolve, 100);
				});
				// eslint-disable-next-line no-await-in-loop
				health = await get(app, '/health');
			}

			expect(health).toMatchObject({status: 200, body: {status: 'ok', redis: 'up', database: 'up'}});
		} finally {
			await app.stop();
			await server.stop();
		}
	});

	test.each([
		['fails closed (the default): 503, unavailable', {}, 503, 'unavailable'],
		['RATE_LIMIT_FAIL_OPEN=1 lets requests through: 200, degraded', {RATE_LIMIT_FAIL_OPEN: '1'}, 200, 'degraded'],
	])('both stores down, %s', async (_name, env, status, readiness) => {
		const app = await startApp('nestjs', {
			REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
			DATABASE_URL: `postgresql://postgres@127.0.0.1:${await freePort()}/test`,
			...env,
		});
		try {
			expect(await get(app, '/health')).toMatchObject({status, body: {status: readiness, redis: 'down', database: 'down'}});
		} finally {
			await app.stop();
		}
	});
});

describe('the deployments: REDIS_CLUSTER_NODES and REDIS_SENTINELS', () => {
	async function limitsOn(app: App, keysOn: (key: string) => Promise<number>) {
		const client = {'x-forwarded-for': '203.0.113.50'};
		expect(await herd(app, 25, '/hello', client)).toEqual(statuses(limit, 15));
		expect(await get(app, '/health')).toMatchObject({status: 200, body: {status: 'ok', redis: 'up', database: 'up'}});
		expect(app.output()).not.toContain(fallbackLine);
		// The hits were counted there (the block cleared the count and remains).
		expect(await keysOn('rl:nest:block:*')).toBe(1);
	}

	test('a Redis Cluster (3 masters): the limit holds, counted on the cluster', async () => {
		const cluster = await RedisCluster.start(3);
		const app = await startApp('nestjs', {
			TRUST_PROXY: '1', REDIS_CLUSTER_NODES: cluster.nodes.map(node => `127.0.0.1:${node.port}`).join(','),
		});
		try {
			await limitsOn(app, async pattern => {
				const counts = await Promise.all(cluster.nodes.map(async node => (await cli(node.port, 'KEYS', pattern)).split('\n').filter(Boolean).length));
				return counts.reduce((sum, count) => sum + count, 0);
			});
		} finally {
			await app.stop();
			await cluster.stop();
		}
	});

	test('Sentinel (a master, a replica, three sentinels): the limit holds, counted on the master', async () => {
		const topology = await RedisSentinelTopology.start();
		const app = await startApp('nestjs', {
			TRUST_PROXY: '1', REDIS_SENTINELS: topology.sentinelNodes.map(node => `${node.host}:${node.port}`).join(','), REDIS_SENTINEL_NAME: topology.name,
		});
		try {
			await limitsOn(app, async pattern => (await cli(await topology.masterPort(), 'KEYS', pattern)).split('\n').filter(Boolean).length);
		} finally {
			await app.stop();
			await topology.stop();
		}
	});

	test.each([
		[{REDIS_CLUSTER_NODES: '127.0.0.1'}, 'Expected `REDIS_CLUSTER_NODES` to be a comma-separated list of host:port, got `127.0.0.1`'],
		[{REDIS_SENTINELS: '127.0.0.1:26379,:x'}, 'Expected `REDIS_SENTINELS` to be a comma-separated list of host:port'],
		[{REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_SENTINELS: '127.0.0.1:26379'}, 'Expected at most one of `REDIS_CLUSTER_NODES` and `REDIS_SENTINELS`'],
	])('a bad setting (%p) stops the app at start with a message naming it', async (env, message) => {
		await expect(startApp('nestjs', env)).rejects.toThrow(message);
	});
});
