/*
The TracingChannels (`connection-guard:connect`, `connection-guard:ensureConnected`) on real servers: one trace per
shared attempt, one per call off the fast path, nothing on the fast path, and subscribers that cannot break a call.
*/
import {execFile} from 'node:child_process';
import {tracingChannel} from 'node:diagnostics_channel';
import {resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import {Cluster, Redis} from 'ioredis';
import {createClient} from 'redis';
import {
	channels, guardedRedis, type ConnectTraceContext, type EnsureConnectedTraceContext, type RedisLikeClient,
} from '../../src/index.js';
import {RedisCluster, RedisServer, freePort} from '../servers/redis-server.js';
import {rejection} from '../helpers/rejection.js';
import {until} from '../helpers/until.js';

jest.setTimeout(60_000);

const execFileAsync = promisify(execFile);
// Not `__dirname`: this file runs as ESM on Deno too (__tests__/runtimes).
const root = fileURLToPath(new URL('../..', import.meta.url));

type Phase = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';
type Trace<C> = {context: C; phases: Phase[]};

/** Every trace published on both channels while subscribed, in order, with the phases each went through. */
function recordTraces() {
	const connect: Array<Trace<ConnectTraceContext>> = [];
	const ensureConnected: Array<Trace<EnsureConnectedTraceContext>> = [];
	const subscriberOf = <C extends object>(traces: Array<Trace<C>>) => {
		const byContext = new Map<C, Trace<C>>();
		const on = (phase: Phase) => (context: C) => {
			let trace = byContext.get(context);
			if (!trace) {
				trace = {context, phases: []};
				byContext.set(context, trace);
				traces.push(trace);
			}

			trace.phases.push(phase);
		};

		return {start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error')};
	};

	const connectChannel = tracingChannel<unknown, ConnectTraceContext>(channels.connect);
	const ensureChannel = tracingChannel<unknown, EnsureConnectedTraceContext>(channels.ensureConnected);
	const connectSubscriber = subscriberOf(connect);
	const ensureSubscriber = subscriberOf(ensureConnected);
	connectChannel.subscribe(connectSubscriber);
	ensureChannel.subscribe(ensureSubscriber);
	return {
		connect,
		ensureConnected,
		stop() {
			connectChannel.unsubscribe(connectSubscriber);
			ensureChannel.unsubscribe(ensureSubscriber);
		},
	};
}

const succeeded = ['start', 'end', 'asyncStart', 'asyncEnd'];
const failed = ['start', 'end', 'error', 'asyncStart', 'asyncEnd'];

let server: RedisServer;
let traces: ReturnType<typeof recordTraces>;
const disposers: Array<() => unknown> = [];

beforeAll(async () => {
	server = await RedisServer.start();
});

afterAll(async () => {
	await server.stop();
});

beforeEach(() => {
	traces = recordTraces();
});

afterEach(async () => {
	traces.stop();
	for (const dispose of disposers.splice(0)) {
		// eslint-disable-next-line no-await-in-loop
		await dispose();
	}
});

const ioredis = (port: number, options: Record<string, unknown> = {}) => {
	const client = new Redis({host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, ...options});
	client.on('error', () => undefined);
	disposers.push(() => client.disconnect());
	return client;
};

async function expectOneTraceForAHerd(client: RedisLikeClient, server: string) {
	const guard = guardedRedis(client);
	await Promise.all(Array.from({length: 200}, async () => guard.ensureConnected()));

	expect(traces.connect).toHaveLength(1);
	expect(traces.connect[0]!.context).toMatchObject({server, calledConnect: true, waiters: 200});
	expect(traces.connect[0]!.phases).toEqual(succeeded);
	expect(traces.ensureConnected).toHaveLength(200);
	for (const {context, phases} of traces.ensureConnected) {
		expect(context).toMatchObject({server, timeoutMs: 5000, waitForReady: false});
		expect(phases).toEqual(succeeded);
		// Each call names the attempt it joined: how a subscriber links the two (examples/observability/opentelemetry.ts).
		expect(context.attempts).toEqual([traces.connect[0]!.context]);
		expect(context.attempts[0]).toBe(traces.connect[0]!.context);
	}
}

test('ioredis: a cold herd of 200 gives one connect trace (calledConnect, waiters 200) and 200 ensureConnected traces', async () => {
	await expectOneTraceForAHerd(ioredis(server.port), `127.0.0.1:${server.port}`);
});

test('node-redis: the same herd, the same traces', async () => {
	const client = createClient({socket: {host: '127.0.0.1', port: server.port}});
	client.on('error', () => undefined);
	disposers.push(async () => client.destroy());
	await expectOneTraceForAHerd(client, `127.0.0.1:${server.port}`);
});

test('ioredis Cluster: the same herd, the same traces', async () => {
	const cluster = await RedisCluster.start(3);
	disposers.push(async () => cluster.stop());
	const client = new Cluster(cluster.startupNodes, {lazyConnect: true});
	client.on('error', () => undefined);
	disposers.unshift(() => client.disconnect());
	await expectOneTraceForAHerd(client, `cluster ${cluster.nodes.map(node => `127.0.0.1:${node.port}`).join(', ')}`);
});

test('10,000 calls on a ready client publish nothing', async () => {
	const guard = guardedRedis(ioredis(server.port));
	await guard.ensureConnected();
	const before = [traces.connect.length, traces.ensureConnected.length];
	const first = guard.ensureConnected();
	for (let index = 0; index < 10_000; index++) {
		// The fast path hands out one cached promise: nothing is allocated per call, so nothing can be published.
		expect(guard.ensureConnected()).toBe(first);
	}

	await first;
	expect([traces.connect.length, traces.ensureConnected.length]).toEqual(before);
});

test('a refused port: one connect trace ending in CONNECT_FAILED, one ensureConnected error per caller', async () => {
	const port = await freePort();
	const guard = guardedRedis(ioredis(port));
	await Promise.all(Array.from({length: 20}, async () => rejection(guard.ensureConnected())));

	expect(traces.connect).toHaveLength(1);
	expect(traces.connect[0]!.phases).toEqual(failed);
	expect(traces.connect[0]!.context.error?.code).toBe('CONNECT_FAILED');
	expect(traces.connect[0]!.context.waiters).toBe(20);
	expect(traces.ensureConnected).toHaveLength(20);
	for (const {context, phases} of traces.ensureConnected) {
		expect(phases).toEqual(failed);
		expect(context.error?.code).toBe('CONNECT_FAILED');
	}
});

test('a frozen server: TIMEOUT caller traces while the attempt\'s trace stays open until the server is back', async () => {
	server.freeze();
	let thawed = false;
	try {
		const guard = guardedRedis(ioredis(server.port));
		await Promise.all(Array.from({length: 5}, async () =>
			rejection(guard.ensureConnected({timeoutMs: 200, waitForReady: true}))));
		expect(traces.ensureConnected.map(({context}) => [context.error?.code, context.timeoutMs, context.waitForReady]))
			.toEqual(Array.from({length: 5}, () => ['TIMEOUT', 200, true]));
		expect(traces.connect).toHaveLength(1);
		expect(traces.connect[0]!.phases).toEqual(['start', 'end']);

		for (const {context} of traces.ensureConnected) {
			expect(context.attempts).toEqual([traces.connect[0]!.context]);
		}

		const afterThaw = guard.ensureConnected({timeoutMs: 20_000});
		server.thaw();
		thawed = true;
		await afterThaw;
		// One attempt all along: 5 callers that timed out and the one that got the client joined it.
		expect(traces.connect).toHaveLength(1);
		expect(traces.connect[0]!.phases).toEqual(succeeded);
		expect(traces.connect[0]!.context.waiters).toBe(6);
	} finally {
		if (!thawed) {
			server.thaw();
		}
	}
});

test('an attempt the client started itself is traced with calledConnect: false', async () => {
	const client = ioredis(server.port);
	const started = client.connect();
	await guardedRedis(client).ensureConnected();
	await started;
	expect(traces.connect.map(({context}) => context.calledConnect)).toEqual([false]);
	expect(traces.ensureConnected[0]!.context.attempts).toEqual([traces.connect[0]!.context]);
});

test('waitForReady through failed tries: the call lists every attempt it joined, in order', async () => {
	const port = await freePort();
	// The client does not retry by itself: the guard does (50 ms, then 100 ms, …) while the caller waits.
	const guard = guardedRedis(ioredis(port));
	const waiting = guard.ensureConnected({waitForReady: true, timeoutMs: 20_000});
	await until(() => traces.connect.length >= 2);
	const later = await RedisServer.start({port});
	disposers.push(async () => later.stop());
	await waiting;

	const [call] = traces.ensureConnected;
	expect(call!.context.attempts).toEqual(traces.connect.map(({context}) => context));
	expect(traces.connect.slice(0, -1).map(({phases}) => phases)).toEqual(traces.connect.slice(0, -1).map(() => failed));
	expect(traces.connect.at(-1)!.phases).toEqual(succeeded);
});

test('a subscriber that throws does not break ensureConnected(); Node reports its error as an uncaught exception', async () => {
	// Node rethrows a subscriber's error on the next tick as an uncaught exception. Jest owns this process's handler for
	// those, so the case runs in a child process (the built package, a real server), as an app would.
	const script = `
		const {tracingChannel} = require('node:diagnostics_channel');
		const {Redis} = require('ioredis');
		const {channels, guardedRedis} = require(process.env.ENTRY);
		const thrown = [];
		process.on('uncaughtException', error => thrown.push(error.message));
		const throwing = () => { throw new Error('subscriber bug'); };
		const subscriber = {start: throwing, end: throwing, asyncStart: throwing, asyncEnd: throwing, error: throwing};
		tracingChannel(channels.connect).subscribe(subscriber);
		tracingChannel(channels.ensureConnected).subscribe(subscriber);
		const client = port => {
			const redis = new Redis({host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null});
			redis.on('error', () => {});
			return redis;
		};
		(async () => {
			const ready = client(Number(process.env.PORT));
			const guard = guardedRedis(ready);
			const results = await Promise.all([guard.ensureConnected(), guard.ensureConnected()]);
			const refused = await guardedRedis(client(Number(process.env.REFUSED_PORT))).ensureConnected().then(() => 'ready', error => error.code);
			await new Promise(resolve => setImmediate(resolve));
			console.log(JSON.stringify({resolvedWithClient: results.every(result => result === ready), refused, thrown}));
			ready.disconnect();
		})();
	`;
	const {stdout} = await execFileAsync(process.execPath, ['-e', script], {
		cwd: root,
		env: {...process.env, ENTRY: resolve(root, 'dist/index.cjs'), PORT: String(server.port), REFUSED_PORT: String(await freePort())},
	});
	const result = JSON.parse(stdout) as {resolvedWithClient: boolean; refused: string; thrown: string[]};
	expect(result.resolvedWithClient).toBe(true);
	expect(result.refused).toBe('CONNECT_FAILED');
	expect(result.thrown.length).toBeGreaterThan(0);
	expect(new Set(result.thrown)).toEqual(new Set(['subscriber bug']));
});
