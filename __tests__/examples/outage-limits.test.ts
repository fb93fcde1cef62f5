/*
Limit 20 across an outage, on real servers: a private redis-server behind a TCP proxy, the Prisma store on SQLite (a
file several processes share). See outage-limits.ts for the sequence; PostgreSQL in outage-limits-postgres.test.ts.
*/
import {mkdtempSync, rmSync} from 'node:fs';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import express from 'express';
import {rateLimit} from 'express-rate-limit';
import {RedisServer} from '../servers/redis-server.js';
import type {TcpProxy} from '../servers/tcp-proxy.js';
import {Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore} from '../../examples/rate-limit/fallback-store.js';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../../examples/rate-limit/redis-store.js';
import {createLimiter, windowMs} from '../fixtures/outage-limiter.js';
import {proxiedRedis, type ProxiedRedis} from '../helpers/proxied-redis.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';
import {faults, limit, runSequence} from './outage-limits.js';

jest.setTimeout(60_000);

let dir: string;
let databaseUrl: string;

beforeAll(() => {
	dir = mkdtempSync(join(tmpdir(), 'connection-guard-outage-'));
	databaseUrl = `file:${join(dir, 'rate-limit.db')}`;
});

afterAll(() => {
	rmSync(dir, {recursive: true, force: true});
});

// Commands in flight at the fault: a frozen server runs them when it thaws, after the fallback counted those requests.
const inFlightAtFreeze = {'one process': 1, 'two processes': 2};
const processes = {'one process': 1, 'two processes': 2};

describe.each(['ioredis', 'node-redis'] as const)('%s', client => {
	describe.each(['one process', 'two processes'] as const)('%s', apps => {
		test.each(faults)('$name: exactly the limit admitted, decided by Redis before and after, by the fallback during', async fault => {
			const run = await runSequence(fault, databaseUrl, uniquePrefix('outage'), apps, {client});
			expect(run.admitted).toBe(limit);
			expect(run.before.every(decision => decision.allowed && decision.decidedBy === 'primary')).toBe(true);
			expect(run.during.map(decision => decision.decidedBy)).toEqual(Array.from({length: 20}, () => 'fallback'));
			expect(run.during.filter(decision => decision.allowed)).toHaveLength(10);
			expect(run.after.every(decision => !decision.allowed && decision.decidedBy === 'primary')).toBe(true);
			// Keys over the limit are answered from memory: each process counts its first refused hit in the fallback, and
			// its first one after in Redis, and no more. Nothing admitted went uncounted.
			const counted = limit + (2 * processes[apps]) + (fault.closesConnections ? 0 : inFlightAtFreeze[apps]);
			expect(run.redisCount).toBe(counted);
		});
	});
});

describe.each(['one process', 'two processes'] as const)('every hit recorded (inMemoryBlock: false), %s', apps => {
	test.each(faults)('$name: the limit admitted, and each of the 70 requests counted once in Redis in the end', async fault => {
		const run = await runSequence(fault, databaseUrl, uniquePrefix('outage'), apps, {inMemoryBlock: false});
		expect(run.admitted).toBe(limit);
		// Whether Redis kept its data or not; a frozen server also runs the commands that were in flight when it froze.
		expect(run.redisCount).toBe(70 + (fault.closesConnections ? 0 : inFlightAtFreeze[apps]));
	});
});

test('the same over HTTP through express-rate-limit: a network cut admits exactly the limit', async () => {
	const redis = await proxiedRedis();
	const {proxy} = redis;
	const limiter = await createLimiter({redisPort: proxy.port, databaseUrl, prefix: uniquePrefix('outage-http'), limit});
	const app = express();
	app.use(rateLimit({windowMs, limit, store: limiter.store, standardHeaders: 'draft-8', legacyHeaders: false}));
	app.get('/', (_request, response) => {
		response.json({ok: true});
	});
	const http = app.listen(0, '127.0.0.1');
	await new Promise(resolve => http.once('listening', resolve));
	const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
	const statuses = async (count: number) => {
		const seen: number[] = [];
		for (let index = 0; index < count; index++) {
			// eslint-disable-next-line no-await-in-loop
			seen.push((await fetch(url)).status);
		}

		return seen;
	};

	try {
		const before = await statuses(10);
		await proxy.down();
		await limiter.clientIs('down');
		const during = await statuses(20);
		await proxy.up();
		await limiter.clientIs('ready');
		const after = await statuses(40);
		expect(before).toEqual(Array.from({length: 10}, () => 200));
		expect(during).toEqual([...Array.from({length: 10}, () => 200), ...Array.from({length: 10}, () => 429)]);
		expect(after).toEqual(Array.from({length: 40}, () => 429));
	} finally {
		http.closeAllConnections();
		http.close();
		await limiter.close();
		await redis.stop();
	}
});

test('startup with Redis absent: the first requests are decided by the fallback at once, then Redis takes over and counts on', async () => {
	const server = await RedisServer.reserve();
	const limiter = await createLimiter({redisPort: server.port, databaseUrl, prefix: uniquePrefix('outage-startup'), limit});
	try {
		const first = await Promise.all(Array.from({length: 5}, async () => limiter.consume('login')));
		expect(first.map(decision => decision.decidedBy)).toEqual(Array.from({length: 5}, () => 'fallback'));
		expect(first.every(decision => decision.allowed)).toBe(true);
		await server.restart();
		await limiter.clientIs('ready');
		// Redis is handed the 5 hits the fallback counted before it decides the 6th.
		await expect(limiter.consume('login')).resolves.toEqual({allowed: true, decidedBy: 'primary', totalHits: 6});
	} finally {
		await limiter.close();
		await server.stop();
	}
});

describe('the Redis store', () => {
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

	test('releases a command in flight as soon as its connection drops, without waiting for timeoutMs', async () => {
		const client = new Redis({
			port: proxy.port, lazyConnect: true, autoResendUnfulfilledCommands: false, retryStrategy: () => 50,
		});
		client.on('error', () => undefined);
		const {prisma, cleanup} = await sqlitePrisma();
		const prefix = uniquePrefix('outage-release');
		// A deadline far beyond the test's own: only the release can end the call in time.
		const redisStore = new RedisRateLimitStore({redis: guardedRedis(client), windowMs, prefix, timeoutMs: 600_000});
		const warn = jest.fn();
		const prismaStore = new PrismaRateLimitStore({prisma, windowMs, prefix, cleanupIntervalMs: 0});
		const store = new FallbackRateLimitStore(redisStore, prismaStore, {logger: {warn, info() {}}});
		try {
			await store.increment('k');
			server.freeze();
			const during = store.incrementDetailed('k');
			// The command is on the wire (the frozen server never answers); now the connection goes.
			await new Promise(resolve => {
				setImmediate(resolve);
			});
			proxy.dropConnections();
			await expect(during).resolves.toMatchObject({decidedBy: 'fallback', totalHits: 2});
			expect(warn).toHaveBeenCalledWith(expect.any(String), expect.objectContaining({name: 'ConnectionGuardError', code: 'CONNECTION_LOST'}));
		} finally {
			server.thaw();
			client.disconnect();
			await cleanup();
		}
	});

	test('warns once per client, by code, when ioredis would resend a released command', () => {
		const emitWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
		const resending = new Redis({port: server.port, lazyConnect: true});
		const quiet = new Redis({port: server.port, lazyConnect: true, autoResendUnfulfilledCommands: false});
		try {
			new RedisRateLimitStore({redis: resending, windowMs});
			new RedisRateLimitStore({redis: guardedRedis(resending), windowMs});
			new RedisRateLimitStore({redis: quiet, windowMs});
			expect(emitWarning).toHaveBeenCalledTimes(1);
			expect(emitWarning).toHaveBeenCalledWith(
				expect.stringMatching(/autoResendUnfulfilledCommands: false/),
				{code: 'CONNECTION_GUARD_AUTO_RESEND'},
			);
		} finally {
			emitWarning.mockRestore();
			resending.disconnect();
			quiet.disconnect();
		}
	});
});
