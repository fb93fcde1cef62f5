/*
A real dead connection: redis-server (and a Redis Cluster) in a network namespace of its own, and a packet filter there
that silently drops every packet of the client's established connection, while a new connection still gets through —
a server gone without closing the socket. The client stays `ready` and would wait about 15 minutes for the kernel to
give up; the guard's rule drops the socket and the client reconnects. Needs root, iproute2 and iptables (see
__tests__/servers/netns.ts); where namespaces cannot be made the tests are skipped, with the reason printed.
*/
import {subscribe, unsubscribe} from 'node:diagnostics_channel';
import {Redis, Cluster} from 'ioredis';
import {Redis as Redis6} from 'ioredis6';
import {createClient} from 'redis';
import {createClient as createClient5} from 'redis5';
import {channels, guardedRedis, type DeadConnectionMessage, type RedisGuard} from '../../src/index.js';
import {FallbackRateLimitStore} from '../../examples/rate-limit/fallback-store.js';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../../examples/rate-limit/redis-store.js';
import {Netns, netnsUnavailable} from '../servers/netns.js';
import {sqlitePrisma, uniquePrefix} from '../helpers/stores.js';

jest.setTimeout(120_000);

const unavailable = netnsUnavailable();
if (unavailable) {
	console.warn(`dead-connection tests skipped: ${unavailable}`);
}

// Chosen at load time, only when the machine cannot make a namespace (the reason is printed above).
const describeWithNetns = unavailable ? describe.skip : describe;

const timeoutMs = 500;
// Slack for a busy machine (two cores shared by several test runs) on every bound below.
const slackMs = 400;

type Outcome = {startedAt: number; ms: number; ok: boolean; code?: string};

/**
`loops` request loops, one request at a time each, until a request that started after `since` succeeded and each loop
made `after` more after that, or `capMs` passed.
*/
async function requestLoops(call: () => Promise<unknown>, since: number, {loops = 3, capMs = 20_000} = {}) {
	const outcomes: Outcome[] = [];
	let backAt: number | undefined;
	const deadline = performance.now() + capMs;
	await Promise.all(Array.from({length: loops}, async () => {
		while (performance.now() < deadline && (backAt === undefined || performance.now() < backAt + 300)) {
			const startedAt = performance.now();
			// eslint-disable-next-line no-await-in-loop
			const outcome = await call().then(
				() => ({ok: true}),
				(error: unknown) => ({ok: false, code: (error as {code?: string}).code ?? String(error)}),
			);
			outcomes.push({startedAt, ms: performance.now() - startedAt, ...outcome});
			if (outcome.ok && startedAt > since) {
				backAt ??= performance.now();
			}

			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, 20);
			});
		}
	}));
	return {outcomes, backAfterMs: backAt === undefined ? Number.POSITIVE_INFINITY : backAt - since};
}

/** The dead-connection channel's messages while a test runs. */
function recordDrops() {
	const messages: DeadConnectionMessage[] = [];
	const onMessage = (message: unknown) => {
		messages.push(message as DeadConnectionMessage);
	};

	subscribe(channels.deadConnection, onMessage);
	return {
		messages,
		stop() {
			unsubscribe(channels.deadConnection, onMessage);
		},
	};
}

/** What every client must show after its connection died: bounded requests, one drop, back on Redis in time. */
type Loops = Awaited<ReturnType<typeof requestLoops>>;

function expectRecovered({outcomes, backAfterMs}: Loops, messages: DeadConnectionMessage[]) {
	const failed = outcomes.filter(outcome => !outcome.ok);
	expect(failed.length).toBeGreaterThan(0);
	// No request waits past its deadline; each failure is one of the guard's codes.
	expect(Math.max(...outcomes.map(outcome => outcome.ms))).toBeLessThan(timeoutMs + slackMs);
	for (const {code} of failed) {
		expect(['TIMEOUT', 'CONNECT_FAILED', 'CONNECTION_LOST']).toContain(code);
	}

	// Back on Redis within one deadline (the rule trips at the first one, with deadConnectionMs = timeoutMs) and one
	// reconnect.
	expect(backAfterMs).toBeLessThan(timeoutMs + 1000 + slackMs);
	expect(messages).toHaveLength(1);
	expect(messages[0]!.silentMs).toBeGreaterThanOrEqual(timeoutMs);
}

describeWithNetns('a connection that says ready but is dead (packet filter in a network namespace)', () => {
	let netns: Netns;
	let port: number;
	let clusterPorts: number[];
	const cleanups: Array<() => unknown> = [];

	beforeAll(async () => {
		netns = await Netns.create();
		port = await netns.startRedis(6379, ['--enable-debug-command', 'yes']);
		clusterPorts = await netns.startCluster(7000);
	});

	afterEach(async () => {
		for (const cleanup of cleanups.splice(0).reverse()) {
			// eslint-disable-next-line no-await-in-loop
			await Promise.resolve(cleanup()).catch(() => undefined);
		}

		await netns.exec('iptables', '-F');
	});

	afterAll(async () => {
		await netns?.stop();
	});

	/** The client ports of the connections established to `serverPort` now, as the server's namespace sees them. */
	async function clientPorts(serverPort: number): Promise<number[]> {
		const lines = await netns.exec('ss', '-Htn', 'state', 'established', `( sport = :${serverPort} )`);
		return lines.split('\n').filter(Boolean).map(line => Number(line.trim().split(/\s+/).at(-1)!.split(':').at(-1)));
	}

	const ioredisVersions: Array<[string, (options: {host: string; port: number}) => Redis]> = [
		['ioredis 5', options => new Redis(options)],
		['ioredis 6', options => new Redis6(options) as unknown as Redis],
	];
	test.each(ioredisVersions)('%s: run() fails within its deadline, the socket is dropped at the first deadline, back on Redis within timeoutMs + a reconnect', async (name, make) => {
		const client = make({host: netns.address, port});
		client.on('error', () => undefined);
		cleanups.push(() => client.disconnect());
		const guard = guardedRedis(client, {timeoutMs, deadConnectionMs: timeoutMs});
		const key = `dead:${name}`;
		await guard.run(async redis => redis.set(key, 0));
		const deadPort = (client.stream as unknown as {localPort: number}).localPort;
		expect(await clientPorts(port)).toContain(deadPort);

		const drops = recordDrops();
		try {
			await netns.dropConnection(deadPort);
			const since = performance.now();
			const result = await requestLoops(async () => guard.run(async redis => redis.incr(key)), since);
			expectRecovered(result, drops.messages);
			expect(drops.messages[0]).toMatchObject({wholeClient: true, connection: `${netns.address}:${port}`});
			expect((client.stream as unknown as {localPort: number}).localPort).not.toBe(deadPort);
			// Nothing counted twice: every INCR that succeeded counted once, and none of the failed ones ran later — not
			// resent by the client, and not delivered by the old socket's kernel once the path heals (it was reset).
			const succeeded = result.outcomes.filter(outcome => outcome.ok).length;
			await netns.exec('iptables', '-F');
			await new Promise(resolve => {
				setTimeout(resolve, 1500);
			});
			expect(Number(await guard.run(async redis => redis.get(key)))).toBe(succeeded);
		} finally {
			drops.stop();
		}
	});

	test('ioredis, the default deadConnectionMs (2 × timeoutMs): back within two deadlines + a reconnect', async () => {
		const client = new Redis({host: netns.address, port});
		client.on('error', () => undefined);
		cleanups.push(() => client.disconnect());
		const guard = guardedRedis(client, {timeoutMs});
		await guard.run(async redis => redis.ping());
		const drops = recordDrops();
		try {
			await netns.dropConnection((client.stream as unknown as {localPort: number}).localPort);
			const since = performance.now();
			const {outcomes, backAfterMs} = await requestLoops(async () => guard.run(async redis => redis.ping()), since);
			expect(Math.max(...outcomes.map(outcome => outcome.ms))).toBeLessThan(timeoutMs + slackMs);
			expect(backAfterMs).toBeLessThan((2 * timeoutMs) + timeoutMs + 1000 + slackMs);
			expect(drops.messages).toHaveLength(1);
			expect(drops.messages[0]!.deadConnectionMs).toBe(1000);
		} finally {
			drops.stop();
		}
	});

	test('ioredis, slow commands on a live server (DEBUG SLEEP): shorter than deadConnectionMs keeps the socket; longer drops it, as documented', async () => {
		const client = new Redis({host: netns.address, port});
		client.on('error', () => undefined);
		cleanups.push(() => client.disconnect());
		const guard = guardedRedis(client, {timeoutMs: 300, deadConnectionMs: 1500});
		await guard.run(async redis => redis.ping());
		const stream = client.stream;
		const drops = recordDrops();
		try {
			// 0.9 s: the PINGs behind it reach their 300 ms deadlines, then everything is answered.
			const short = client.call('DEBUG', 'SLEEP', '0.9');
			const behind = await Promise.allSettled(Array.from({length: 5}, async (_, index) => {
				await new Promise(resolve => {
					setTimeout(resolve, index * 150);
				});
				return guard.run(async redis => redis.ping());
			}));
			await short;
			expect(behind.filter(outcome => outcome.status === 'rejected').length).toBeGreaterThan(0);
			expect(drops.messages).toEqual([]);
			expect(client.stream).toBe(stream);
			await expect(guard.run(async redis => redis.ping())).resolves.toBe('PONG');

			// 3 s, past deadConnectionMs: indistinguishable from a dead peer, so the socket is dropped and replaced.
			const long = client.call('DEBUG', 'SLEEP', '3').catch((error: unknown) => error);
			const started = performance.now();
			while (drops.messages.length === 0 && performance.now() - started < 3000) {
				// eslint-disable-next-line no-await-in-loop
				await guard.run(async redis => redis.ping()).catch(() => undefined);
			}

			expect(drops.messages).toHaveLength(1);
			expect(performance.now() - started).toBeLessThan(1500 + 300 + slackMs);
			expect(await long).toMatchObject({code: 'DEAD_CONNECTION'});
			// The new connection waits for the server to finish sleeping, then works.
			await expect(guard.run(async redis => redis.ping(), {timeoutMs: 5000, waitForReady: true})).resolves.toBe('PONG');
		} finally {
			drops.stop();
		}
	});

	test('heartbeatMs: a dead idle connection is found and replaced before any request is made', async () => {
		const client = new Redis({host: netns.address, port});
		client.on('error', () => undefined);
		cleanups.push(() => client.disconnect());
		const guard = guardedRedis(client, {timeoutMs: 300, deadConnectionMs: 300, heartbeatMs: 300});
		cleanups.push(async () => guard.close());
		await guard.run(async redis => redis.ping());
		const deadPort = (client.stream as unknown as {localPort: number}).localPort;
		const drops = recordDrops();
		try {
			await netns.dropConnection(deadPort);
			const since = performance.now();
			while (drops.messages.length === 0 && performance.now() - since < 5000) {
				// eslint-disable-next-line no-await-in-loop
				await new Promise(resolve => {
					setTimeout(resolve, 20);
				});
			}

			// Two beats (one to see it idle, one PING) and the PING's deadline.
			expect(drops.messages).toHaveLength(1);
			expect(performance.now() - since).toBeLessThan((3 * 300) + 300 + slackMs);
			await expect(guard.run(async redis => redis.ping(), {waitForReady: true, timeoutMs: 2000})).resolves.toBe('PONG');
			expect((client.stream as unknown as {localPort: number}).localPort).not.toBe(deadPort);
		} finally {
			drops.stop();
		}
	});

	type NodeRedis = ReturnType<typeof createClient>;
	const nodeRedisVersions: Array<[string, (options: {socket: {host: string; port: number}}) => NodeRedis]> = [
		['node-redis 6', options => createClient(options)],
		['node-redis 5', options => createClient5(options) as unknown as NodeRedis],
	];
	test.each(nodeRedisVersions)('%s: run() fails within its deadline; destroy() and a new connect(), back within timeoutMs + a reconnect', async (name, create) => {
		const client = create({socket: {host: netns.address, port}});
		client.on('error', () => undefined);
		cleanups.push(() => client.destroy());
		const key = `dead:${name}`;
		const before = new Set(await clientPorts(port));
		await client.connect();
		const guard = guardedRedis(client, {timeoutMs, deadConnectionMs: timeoutMs});
		await guard.run(async redis => redis.set(key, '0'));
		// node-redis keeps its socket private: its port is the connection that appeared.
		const [deadPort, ...others] = (await clientPorts(port)).filter(clientPort => !before.has(clientPort));
		expect(others).toEqual([]);

		const drops = recordDrops();
		try {
			await netns.dropConnection(deadPort!);
			const since = performance.now();
			const result = await requestLoops(async () => guard.run(async redis => redis.incr(key)), since);
			expectRecovered(result, drops.messages);
			// The server never learns that the old connection died (its packets are dropped too); the new one is there.
			const now = await clientPorts(port);
			expect(now.filter(clientPort => clientPort !== deadPort && !before.has(clientPort))).toHaveLength(1);
			// While the path stays broken, nothing but the answered INCRs counted. (node-redis's socket is private, so the
			// guard cannot reset it: were the path to heal, its kernel could still deliver what it had sent. See
			// docs/failure-behaviour.md.)
			const succeeded = result.outcomes.filter(outcome => outcome.ok).length;
			expect(Number(await guard.run(async redis => redis.get(key)))).toBe(succeeded);
		} finally {
			drops.stop();
		}
	});

	test('an ioredis Cluster node: only that node\'s socket is dropped; its slots are served again within timeoutMs + a reconnect', async () => {
		const cluster = new Cluster([{host: netns.address, port: clusterPorts[0]!}]);
		cluster.on('error', () => undefined);
		cleanups.push(() => cluster.disconnect());
		const guard: RedisGuard<Cluster> = guardedRedis(cluster, {timeoutMs, deadConnectionMs: timeoutMs});
		const key = 'dead:cluster';
		await guard.run(async redis => redis.set(key, 0));
		// A socket to every master (ioredis opens a node's on first use).
		await Promise.all(cluster.nodes('master').map(async node => node.ping()));
		const slot = Number(await netns.cli(clusterPorts[0]!, 'CLUSTER', 'KEYSLOT', key));
		const owner = cluster.nodes('master').find(node => {
			const slots = (cluster as unknown as {slots: string[][]}).slots[slot];
			return slots?.[0] === `${node.options.host}:${node.options.port}`;
		})!;
		const otherStreams = new Map(cluster.nodes('master').filter(node => node !== owner)
			.map(node => [node.options.port, node.stream]));
		expect(otherStreams.size).toBe(clusterPorts.length - 1);
		const deadPort = (owner.stream as unknown as {localPort: number}).localPort;

		const drops = recordDrops();
		try {
			await netns.dropConnection(deadPort);
			const since = performance.now();
			const result = await requestLoops(async () => guard.run(async redis => redis.incr(key)), since);
			expectRecovered(result, drops.messages);
			expect(drops.messages[0]).toMatchObject({wholeClient: false, connection: `${netns.address}:${owner.options.port}`});
			// The other nodes kept their sockets.
			for (const node of cluster.nodes('master')) {
				if (node.options.port !== owner.options.port) {
					expect(node.stream === otherStreams.get(node.options.port)).toBe(true);
				}
			}
			const succeeded = result.outcomes.filter(outcome => outcome.ok).length;
			await new Promise(resolve => {
				setTimeout(resolve, 300);
			});
			expect(Number(await guard.run(async redis => redis.get(key)))).toBe(succeeded);
		} finally {
			drops.stop();
		}
	});

	test('the example stores (Redis, then the SQLite fallback): every request answered within the store\'s deadline, nothing counted twice, the limit holds', async () => {
		const client = new Redis({host: netns.address, port, autoResendUnfulfilledCommands: false});
		client.on('error', () => undefined);
		cleanups.push(() => client.disconnect());
		const {prisma, cleanup} = await sqlitePrisma();
		cleanups.push(cleanup);
		const prefix = uniquePrefix('dead-connection');
		const windowMs = 10 * 60_000;
		const limit = 1000;
		const guard = guardedRedis(client, {timeoutMs, deadConnectionMs: timeoutMs});
		const redisStore = new RedisRateLimitStore({redis: guard, windowMs, prefix, timeoutMs});
		const prismaStore = new PrismaRateLimitStore({prisma, windowMs, prefix, cleanupIntervalMs: 0});
		const store = new FallbackRateLimitStore(redisStore, prismaStore, {logger: {warn() {}, info() {}}, cooldownMs: 200});
		cleanups.push(async () => store.shutdown());
		store.init({windowMs, limit} as never);

		let requests = 0;
		const decide = async () => {
			requests++;
			return store.incrementDetailed('k');
		};

		for (let index = 0; index < 10; index++) {
			// eslint-disable-next-line no-await-in-loop
			expect(await decide()).toMatchObject({decidedBy: 'primary', totalHits: index + 1});
		}

		await netns.dropConnection((client.stream as unknown as {localPort: number}).localPort);
		const since = performance.now();
		const decisions: Array<{startedAt: number; ms: number; decidedBy: string; totalHits: number}> = [];
		const deadline = since + 20_000;
		let backAt: number | undefined;
		while (performance.now() < deadline && (backAt === undefined || decisions.length < 40)) {
			const startedAt = performance.now();
			// eslint-disable-next-line no-await-in-loop
			const {decidedBy, totalHits} = await decide();
			decisions.push({startedAt, ms: performance.now() - startedAt, decidedBy, totalHits});
			if (decidedBy === 'primary') {
				backAt ??= performance.now();
			}

			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, 20);
			});
		}

		expect(decisions.some(decision => decision.decidedBy === 'fallback')).toBe(true);
		expect(backAt).toBeDefined();
		expect(backAt! - since).toBeLessThan(timeoutMs + 1000 + 200 + slackMs);
		// No request waits past the store's deadline.
		expect(Math.max(...decisions.map(decision => decision.ms))).toBeLessThan(timeoutMs + slackMs);
		// Each request counted once, across both stores: the last count is the number of requests.
		expect(decisions.at(-1)!.totalHits).toBe(requests);
		expect(decisions.map(decision => decision.totalHits)).toEqual(
			[...decisions.map(decision => decision.totalHits)].sort((a, b) => a - b),
		);
		// The path heals: nothing the dead socket had sent is counted late.
		await netns.exec('iptables', '-F');
		await new Promise(resolve => {
			setTimeout(resolve, 1500);
		});
		expect(await decide()).toMatchObject({decidedBy: 'primary', totalHits: requests});
	});
});
