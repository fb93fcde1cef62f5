/*
Failures retrying cannot fix, on a real `redis-server --requirepass`: a wrong or missing password ends every wait at
once, in both modes, with the client's error as cause, while the client goes on retrying by itself (its defaults). A
refused port, which may come back, still keeps wait-for-ready callers waiting.
*/
import {Redis as Redis5} from 'ioredis';
import {Redis as Redis6} from 'ioredis6';
import {Redis as Valkey} from 'iovalkey';
import {createClient} from 'redis';
import {createClient as createClient5} from 'redis5';
import {guardedRedis, type RedisLikeClient} from '../../src/index.js';
import {freePort, RedisServer} from '../servers/redis-server.js';
import {rejection} from '../helpers/rejection.js';

jest.setTimeout(30_000);

const password = 'the-right-one';
let server: RedisServer;

beforeAll(async () => {
	server = await RedisServer.start({extraArguments: ['--requirepass', password], cliArguments: ['-a', password, '--no-auth-warning']});
});

afterAll(async () => {
	await server.stop();
});

type Made = {client: RedisLikeClient; dispose: () => void};

const ioredis = (RedisClass: typeof Redis5) => (port: number, pass?: string): Made => {
	const client = new RedisClass({host: '127.0.0.1', port, password: pass, lazyConnect: true});
	client.on('error', () => undefined);
	return {client, dispose: () => client.disconnect()};
};

const nodeRedis = (create: typeof createClient) => (port: number, pass?: string): Made => {
	const client = create({socket: {host: '127.0.0.1', port}, password: pass});
	client.on('error', () => undefined);
	return {client, dispose: () => client.isOpen && client.destroy()};
};

const clients: Array<[string, (port: number, pass?: string) => Made, RegExp]> = [
	['ioredis 5', ioredis(Redis5), /NOAUTH Authentication required/],
	['ioredis 6', ioredis(Redis6 as unknown as typeof Redis5), /NOAUTH HELLO must be called/],
	['iovalkey', ioredis(Valkey as unknown as typeof Redis5), /NOAUTH Authentication required/],
	['node-redis 6', nodeRedis(createClient), /NOAUTH HELLO must be called/],
	// node-redis 5 speaks RESP2 without a handshake: with no password it connects, and each command fails NOAUTH.
	['node-redis 5', nodeRedis(createClient5 as unknown as typeof createClient), /^$/],
];

describe.each(clients)('%s, retrying by itself (its defaults)', (_name, make, noPassword) => {
	const made: Made[] = [];
	const create = (port: number, pass?: string) => {
		const each = make(port, pass);
		made.push(each);
		return each.client;
	};

	afterEach(() => {
		for (const each of made.splice(0)) {
			each.dispose();
		}
	});

	test.each([false, true])('a wrong password, waitForReady %s: CONNECT_FAILED with WRONGPASS at once, not at the 10 s deadline', async waitForReady => {
		const guard = guardedRedis(create(server.port, 'wrong'), {timeoutMs: 10_000, waitForReady});
		const started = performance.now();
		const calls = [guard.ensureConnected(), guard.ensureConnected({waitForReady: true})];
		const errors = await Promise.all(calls.map(async call => rejection(call)));
		expect(performance.now() - started).toBeLessThan(2000);
		for (const error of errors) {
			expect(error.code).toBe('CONNECT_FAILED');
			expect(String((error.cause as Error).message)).toMatch(/^WRONGPASS/);
		}

		// The client goes on retrying with the same password: the next caller is told at once too.
		const again = performance.now();
		await expect(guard.ensureConnected({waitForReady: true})).rejects.toMatchObject({code: 'CONNECT_FAILED'});
		expect(performance.now() - again).toBeLessThan(2000);
	});

	test('no password: CONNECT_FAILED with NOAUTH at once (node-redis 5: connected, and the command fails NOAUTH)', async () => {
		const guard = guardedRedis(create(server.port), {timeoutMs: 10_000, waitForReady: true});
		const started = performance.now();
		if (noPassword.source === '^$') {
			await expect(guard.run(async redis => (redis as ReturnType<typeof createClient>).get('k'))).rejects.toThrow(/^NOAUTH/);
		} else {
			const error = await rejection(guard.ensureConnected());
			expect(error.code).toBe('CONNECT_FAILED');
			expect(String((error.cause as Error).message)).toMatch(noPassword);
		}

		expect(performance.now() - started).toBeLessThan(2000);
	});

	test('the right password connects; a refused port still keeps a wait-for-ready caller until its deadline', async () => {
		const guard = guardedRedis(create(server.port, password));
		await expect(guard.run(async redis => (redis as ReturnType<typeof createClient>).set('k', 'v'))).resolves.toBe('OK');

		const refused = guardedRedis(create(await freePort(), password), {timeoutMs: 600, waitForReady: true});
		const started = performance.now();
		await expect(refused.ensureConnected()).rejects.toMatchObject({code: 'TIMEOUT', message: expect.stringContaining('ECONNREFUSED')});
		expect(performance.now() - started).toBeGreaterThanOrEqual(550);
	});
});
