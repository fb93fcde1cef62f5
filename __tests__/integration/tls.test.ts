/*
TLS on a real `redis-server --tls-port` with a CA and a server certificate made by `openssl` for this run: the contract
suite for ioredis and node-redis, and the failures TLS adds (a wrong CA, plain TCP to the TLS port).
*/
import {Redis} from 'ioredis';
import {createClient} from 'redis';
import {guardedRedis, type RedisLikeClient} from '../../src/index.js';
import {freePort, type RedisServer} from '../servers/redis-server.js';
import {makeCertificates, readPem, removeCertificates, startTlsServer, type TestCertificates} from '../servers/redis-tls.js';
import {rejection} from '../helpers/rejection.js';
import {ioredisBehaviour} from './ioredis-target.js';
import {nodeRedisBehaviour, reconnectStrategy, startup} from './node-redis-target.js';
import {guardContract, type ClientOptions, type GuardClient, type Target} from './contract.js';

jest.setTimeout(60_000);

let certificates: TestCertificates;
let server: RedisServer;
let refusedPort: number;
const portFor = (options: ClientOptions = {}) => options.refused ? refusedPort : server.port;

beforeAll(async () => {
	certificates = await makeCertificates();
	server = await startTlsServer(certificates);
	refusedPort = await freePort();
});

afterAll(async () => {
	await server.stop();
	removeCertificates(certificates);
});

const serverTarget = {
	// The server is started for the whole file above.
	async start() {},
	async stop() {},
	address: (options?: ClientOptions) => `rediss://127.0.0.1:${portFor(options)}`,
	kill: async () => server.kill(),
	restart: async () => server.process ? undefined : server.restart(),
	freeze: () => server.freeze(),
	thaw: () => server.thaw(),
};

const ioredisTls = (options: ClientOptions = {}, ca = certificates.ca, tls = true) => new Redis({
	host: '127.0.0.1',
	port: portFor(options),
	tls: tls ? {ca: readPem(ca)} : undefined,
	lazyConnect: options.lazy ?? true,
	retryStrategy: options.retry ? (times: number) => Math.min(times * 20, 200) : () => null,
	maxRetriesPerRequest: 1,
	disconnectTimeout: 100,
});

const nodeRedisTls = (options: ClientOptions = {}, ca = certificates.ca, tls = true) => startup(createClient({
	socket: tls
		? {host: '127.0.0.1', port: portFor(options), tls: true, ca: readPem(ca), reconnectStrategy: reconnectStrategy(options)}
		: {host: '127.0.0.1', port: portFor(options), reconnectStrategy: reconnectStrategy(options)},
}) as unknown as GuardClient, options);

guardContract({
	...ioredisBehaviour,
	...serverTarget,
	name: 'ioredis over TLS, real redis-server --tls-port',
	client: options => ioredisTls(options) as unknown as GuardClient,
} satisfies Target);

guardContract({
	...nodeRedisBehaviour,
	...serverTarget,
	retriesByItself: true,
	name: 'node-redis 6 over TLS, real redis-server --tls-port',
	client: options => nodeRedisTls(options),
} satisfies Target);

describe.each([
	['ioredis', (ca?: string, tls?: boolean) => ioredisTls({}, ca, tls) as RedisLikeClient],
	['node-redis', (ca?: string, tls?: boolean) => nodeRedisTls({}, ca, tls) as RedisLikeClient],
])('%s: what TLS adds', (_name, make) => {
	const disposers: Array<() => void> = [];
	const client = (ca?: string, tls?: boolean) => {
		const made = make(ca, tls);
		made.on('error', () => undefined);
		disposers.push(() => {
			const redis = made as {disconnect?: () => void; isOpen?: boolean; destroy?: () => void};
			if (typeof redis.isOpen === 'boolean') {
				if (redis.isOpen) {
					redis.destroy?.();
				}
			} else {
				redis.disconnect?.();
			}
		});
		return made;
	};

	afterEach(() => {
		for (const dispose of disposers.splice(0)) {
			dispose();
		}
	});

	test('a herd of 500 makes one connect() over TLS', async () => {
		const redis = client();
		const connect = jest.spyOn(redis, 'connect');
		const guard = guardedRedis(redis);
		await Promise.all(Array.from({length: 500}, async () => guard.ensureConnected()));
		expect(connect).toHaveBeenCalledTimes(1);
	});

	test('a wrong CA: CONNECT_FAILED long before the deadline, with the certificate error as cause', async () => {
		const guard = guardedRedis(client(certificates.wrongCa), {timeoutMs: 5000});
		const started = performance.now();
		const error = await rejection(guard.ensureConnected());
		expect(performance.now() - started).toBeLessThan(1000);
		expect(error.code).toBe('CONNECT_FAILED');
		expect(error.message).toContain(`rediss://127.0.0.1:${server.port}`);
		expect(String((error.cause as {code?: string}).code)).toMatch(/CERT|VERIFY|SIGNATURE/);
	});

	test('a wrong CA with waitForReady: CONNECT_FAILED at once, not retried until the deadline (retrying cannot fix it)', async () => {
		const redis = client(certificates.wrongCa);
		const connect = jest.spyOn(redis, 'connect');
		const guard = guardedRedis(redis, {timeoutMs: 5000, waitForReady: true});
		const started = performance.now();
		const error = await rejection(guard.ensureConnected());
		expect(performance.now() - started).toBeLessThan(1000);
		expect(error.code).toBe('CONNECT_FAILED');
		expect(String((error.cause as {code?: string}).code)).toMatch(/CERT|VERIFY|SIGNATURE/);
		expect(connect).toHaveBeenCalledTimes(1);
	});

	test('plain TCP to the TLS port: CONNECT_FAILED long before the deadline', async () => {
		const guard = guardedRedis(client(certificates.ca, false), {timeoutMs: 5000});
		const started = performance.now();
		const error = await rejection(guard.ensureConnected());
		expect(performance.now() - started).toBeLessThan(1000);
		expect(error.code).toBe('CONNECT_FAILED');
		expect(error.message).toContain(`127.0.0.1:${server.port}`);
		expect(error.cause).toHaveProperty('message');
	});
});
