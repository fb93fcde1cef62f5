/*
Fault matrix: one real fault per test, each named by its expected outcome. Every test asserts the outcome within a
bounded time, the ConnectionGuardError code, the preserved cause, listeners and timers back to baseline, and recovery
once the fault clears. (The setup file fails any test that leaves an unhandled rejection.)
*/
import {once} from 'node:events';
import {Redis, type RedisOptions} from 'ioredis';
import {ConnectionGuardError, guardedRedis} from '../../src/index.js';
import {RedisServer, cli, freePort} from '../servers/redis-server.js';
import {TcpProxy} from '../servers/tcp-proxy.js';
import {totalListeners} from '../helpers/listeners.js';
import {errorOf, rejection} from '../helpers/rejection.js';
import {proxiedRedis, type ProxiedRedis} from '../helpers/proxied-redis.js';

jest.setTimeout(30_000);

const clients: Redis[] = [];
afterEach(() => {
	for (const client of clients.splice(0)) {
		client.disconnect();
	}
});

function lazyClient(options: RedisOptions): Redis {
	const client = new Redis({
		host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1, disconnectTimeout: 50, ...options,
	});
	client.on('error', () => undefined);
	clients.push(client);
	return client;
}

// Every timer the guard's own code creates during a test, to prove each one was cleared or has fired (other code in the
// process — ioredis, jest — has timers of its own, so a global count would be noise).
const guardTimers: NodeJS.Timeout[] = [];
const realSetTimeout = globalThis.setTimeout;
beforeAll(() => {
	globalThis.setTimeout = ((...arguments_: Parameters<typeof setTimeout>) => {
		const timer = realSetTimeout(...arguments_);
		if (/[\\/]src[\\/]/.test(new Error('probe').stack ?? '')) {
			guardTimers.push(timer);
		}

		return timer;
	}) as typeof setTimeout;
});
afterAll(() => {
	globalThis.setTimeout = realSetTimeout;
});

/** Listeners before a fault, to compare with after it; and no live guard timer afterwards. */
function baseline(client: Redis) {
	const before = totalListeners(client);
	guardTimers.length = 0;
	return {
		expectRestored() {
			expect(totalListeners(client)).toBe(before);
			const live = guardTimers.filter(timer => !(timer as unknown as {_destroyed: boolean})._destroyed);
			expect(live).toHaveLength(0);
		},
	};
}

/** Runs `call`, expects a ConnectionGuardError within `withinMs`, returns it. */
async function failsWithin(withinMs: number, call: () => Promise<unknown>): Promise<ConnectionGuardError> {
	const started = performance.now();
	const error = await rejection(call());
	expect(performance.now() - started).toBeLessThan(withinMs);
	return error;
}

describe('fault matrix (real redis-server, TCP fault proxy)', () => {
	let redis: ProxiedRedis;
	let server: RedisServer;
	let proxy: TcpProxy;

	beforeAll(async () => {
		redis = await proxiedRedis();
		({server, proxy} = redis);
	});

	afterAll(async () => {
		await redis.stop();
	});

	afterEach(async () => {
		proxy.mode = 'forward';
		server.thaw();
		if (!server.process) {
			await server.restart();
		}
	});

	test('refused port → CONNECT_FAILED with cause ECONNREFUSED, at once; recovers when a server listens there', async () => {
		const port = await freePort();
		const client = lazyClient({port});
		const guard = guardedRedis(client);
		const base = baseline(client);

		const error = await failsWithin(2000, async () => guard.ensureConnected({timeoutMs: 5000}));
		expect(error.code).toBe('CONNECT_FAILED');
		expect(error.cause).toMatchObject({code: 'ECONNREFUSED'});
		expect(error.message).toContain(`127.0.0.1:${port}`);
		base.expectRestored();

		const late = await RedisServer.start({port});
		try {
			await expect(guard.ensureConnected()).resolves.toBe(client);
		} finally {
			client.disconnect();
			await late.stop();
		}
	});

	test('frozen server (SIGSTOP) → TIMEOUT at the deadline, one connect(); the same attempt succeeds after SIGCONT', async () => {
		server.freeze();
		const client = lazyClient({port: server.port});
		const connect = jest.spyOn(client, 'connect');
		const guard = guardedRedis(client);
		const base = baseline(client);

		const errors = await Promise.all(Array.from({length: 20}, async () =>
			failsWithin(1500, async () => guard.ensureConnected({timeoutMs: 300}))));
		expect(errors.every(error => error.code === 'TIMEOUT')).toBe(true);
		expect(connect).toHaveBeenCalledTimes(1);

		const waiting = guard.ensureConnected({timeoutMs: 10_000});
		server.thaw();
		await expect(waiting).resolves.toBe(client);
		expect(connect).toHaveBeenCalledTimes(1);
		base.expectRestored();
	});

	test('proxy that stops forwarding → TIMEOUT at the deadline; recovers once the dead connection is reset and forwarding resumes', async () => {
		proxy.mode = 'blackhole';
		const client = lazyClient({port: proxy.port, retryStrategy: () => 20});
		const guard = guardedRedis(client);

		const error = await failsWithin(1500, async () => guard.ensureConnected({timeoutMs: 300}));
		expect(error.code).toBe('TIMEOUT');

		proxy.mode = 'forward';
		const waiting = guard.ensureConnected({timeoutMs: 10_000});
		proxy.dropConnections();
		// The reset fails the hung attempt (CONNECT_FAILED to its fail-fast waiters); ioredis retries through the healed
		// proxy, which a wait-for-ready caller waits for.
		const first = await waiting.then(() => 'ready', (error_: ConnectionGuardError) => error_.code);
		expect(['ready', 'CONNECT_FAILED']).toContain(first);
		await expect(guard.ensureConnected({timeoutMs: 10_000, waitForReady: true})).resolves.toBe(client);
	});

	test('socket dropped mid-handshake → CONNECT_FAILED with the close as cause; recovers when the proxy forwards again', async () => {
		proxy.mode = 'reset';
		const client = lazyClient({port: proxy.port});
		const guard = guardedRedis(client);
		const base = baseline(client);

		const error = await failsWithin(2000, async () => guard.ensureConnected({timeoutMs: 5000}));
		expect(error.code).toBe('CONNECT_FAILED');
		expect(error.cause).toHaveProperty('message');
		base.expectRestored();

		proxy.mode = 'forward';
		await expect(guard.ensureConnected()).resolves.toBe(client);
	});

	test('slow replies (CLIENT PAUSE 800 ms) → TIMEOUT for a 200 ms deadline; a 5 s deadline waits and succeeds', async () => {
		await cli(server.port, 'CLIENT', 'PAUSE', '800', 'ALL');
		const client = lazyClient({port: server.port});
		const guard = guardedRedis(client);
		const base = baseline(client);

		const error = await failsWithin(1500, async () => guard.ensureConnected({timeoutMs: 200}));
		expect(error.code).toBe('TIMEOUT');
		await expect(guard.ensureConnected({timeoutMs: 5000})).resolves.toBe(client);
		base.expectRestored();
	});

	test('kill -9 → CONNECT_FAILED while down; restart on the same port → connects again', async () => {
		const client = lazyClient({port: server.port});
		const guard = guardedRedis(client);
		await guard.ensureConnected();
		const base = baseline(client);

		// Until the client has seen its socket close, its status (and so the guard) still says ready.
		const noticed = once(client, 'end');
		await server.kill();
		await noticed;
		expect(guard.isReady).toBe(false);
		const error = await failsWithin(2000, async () => guard.ensureConnected({timeoutMs: 5000}));
		expect(error.code).toBe('CONNECT_FAILED');
		expect(error.cause).toMatchObject({code: 'ECONNREFUSED'});

		await server.restart();
		await expect(guard.ensureConnected()).resolves.toBe(client);
		await client.set('faults:after-kill', '1');
		base.expectRestored();
	});

	test('wrong password → CONNECT_FAILED fast with WRONGPASS as cause; 1,000 callers make one connect(), no retry storm', async () => {
		await cli(server.port, 'CONFIG', 'SET', 'requirepass', 'right');
		try {
			const before = proxy.accepted;
			// ioredis' default: keep retrying (it cannot know the password will not change).
			const client = lazyClient({port: proxy.port, password: 'wrong', retryStrategy: (times: number) => Math.min(times * 50, 2000)});
			const connect = jest.spyOn(client, 'connect');
			const guard = guardedRedis(client);

			const errors = await Promise.all(Array.from({length: 1000}, async () =>
			failsWithin(2000, async () => guard.ensureConnected({timeoutMs: 5000}))));
			expect(new Set(errors.map(error => error.code))).toEqual(new Set(['CONNECT_FAILED']));
			expect(String((errors[0]!.cause as Error).message)).toMatch(/WRONGPASS|invalid password/);
			expect(connect).toHaveBeenCalledTimes(1);
			// Later callers wait for ioredis' own next try; they never open connections of their own.
			await failsWithin(5000, async () => guard.ensureConnected({timeoutMs: 5000}));
			expect(proxy.accepted - before).toBeLessThanOrEqual(3);
			client.disconnect();
		} finally {
			await cli(server.port, '-a', 'right', '--no-auth-warning', 'CONFIG', 'SET', 'requirepass', '');
		}
	});

	test('maxclients reached → CONNECT_FAILED with the server\'s error as cause; recovers when a connection frees up', async () => {
		const limited = await RedisServer.start({extraArguments: ['--maxclients', '1']});
		const holder = lazyClient({port: limited.port});
		try {
			await holder.connect();
			const client = lazyClient({port: limited.port});
			const guard = guardedRedis(client);
			const base = baseline(client);

			const error = await failsWithin(2000, async () => guard.ensureConnected({timeoutMs: 5000}));
			expect(error.code).toBe('CONNECT_FAILED');
			// The server writes its error and closes at once. Depending on who wins that race, ioredis reports the server's
			// reply, the broken pipe of its own write, or only the close: the cause is whatever the client reported.
			expect(String((error.cause as Error).message)).toMatch(/max number of clients|EPIPE|ECONNRESET|Connection is closed/i);
			base.expectRestored();

			await holder.quit();
			await expect(guard.ensureConnected()).resolves.toBe(client);
		} finally {
			await limited.stop();
		}
	});

	test('a host name that does not resolve → CONNECT_FAILED with the DNS error as cause', async () => {
		const client = lazyClient({host: 'no-such-host.invalid', port: 6379});
		const guard = guardedRedis(client);
		const base = baseline(client);

		const error = await failsWithin(10_000, async () => guard.ensureConnected({timeoutMs: 8000}));
		expect(error.code).toBe('CONNECT_FAILED');
		expect(error.cause).toMatchObject({code: expect.stringMatching(/ENOTFOUND|EAI_AGAIN/)});
		expect(error.message).toContain('no-such-host.invalid');
		base.expectRestored();
	});

	test('a client whose connect() throws synchronously → CONNECT_FAILED with that error as cause, nothing left attached', async () => {
		const client = lazyClient({port: server.port});
		const thrown = new TypeError('bad socket options');
		jest.spyOn(client, 'connect').mockImplementation(() => {
			throw thrown;
		});
		const guard = guardedRedis(client);
		const base = baseline(client);

		const error = await failsWithin(1000, async () => guard.ensureConnected());
		expect(error).toMatchObject({code: 'CONNECT_FAILED', cause: thrown});
		base.expectRestored();
	});

	test('1,000 failing calls in a row → no growth of listeners, timers or memory', async () => {
		const client = lazyClient({port: await freePort()});
		const guard = guardedRedis(client);
		await guard.ensureConnected().catch(() => undefined);
		const base = baseline(client);
		globalThis.gc?.();
		const heapBefore = process.memoryUsage().heapUsed;

		for (let index = 0; index < 1000; index++) {
			// eslint-disable-next-line no-await-in-loop
			const error = await errorOf(guard.ensureConnected({timeoutMs: 2000}));
			expect(error).toMatchObject({code: 'CONNECT_FAILED'});
		}

		base.expectRestored();
		globalThis.gc?.();
		// Each failed attempt is garbage once settled; allow for allocator noise, not for a leak of 1,000 attempts.
		expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(8 * 1024 * 1024);
	});
});
