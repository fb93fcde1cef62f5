/*
The dead-connection rule and the heartbeat, on fake clients with fake timers: a ready connection that receives nothing
for `deadConnectionMs` while run()'s commands wait on it is dropped; a slow one that answers in time is not. The same on
real dead sockets (a packet filter in a network namespace) in __tests__/integration/dead-connection.test.ts.
*/
import {subscribe, unsubscribe} from 'node:diagnostics_channel';
import {channels, ConnectionGuardError, guardedRedis, type DeadConnectionMessage} from '../../src/index.js';
import {deferred, flush, type Deferred} from '../helpers/deferred.js';
import {FakeNodeRedis, FakeRedis} from '../helpers/fake-client.js';
import {rejection} from '../helpers/rejection.js';

/** The parts of a net.Socket the rule reads: what it received, and destroy(). */
class FakeSocket {
	bytesRead = 0;
	destroyed = false;
	constructor(private readonly onDestroy: () => void) {}
	destroy() {
		if (!this.destroyed) {
			this.destroyed = true;
			// As a net.Socket: `close` comes on a later tick, and ioredis' close handler starts its retry.
			process.nextTick(this.onDestroy);
		}
	}
}

/** A ready ioredis-like client with a socket: its commands wait in `commandQueue` until `answer()`. */
class SocketRedis extends FakeRedis {
	stream = this.newSocket();
	readonly commandQueue: Array<Deferred<string>> = [];
	pings = 0;
	sockets = 1;

	constructor() {
		super();
		this.status = 'ready';
	}

	async get(): Promise<string> {
		const reply = deferred<string>();
		this.commandQueue.push(reply);
		return reply.promise;
	}

	async ping(): Promise<string> {
		this.pings++;
		return this.get();
	}

	/** ioredis rejects what waits on the socket (the rule calls it before destroying the socket). */
	flushQueue(error: Error): void {
		for (const reply of this.commandQueue.splice(0)) {
			reply.reject(error);
		}
	}

	/** The server answers the oldest waiting command. */
	answer(): void {
		this.stream.bytesRead += 5;
		this.commandQueue.shift()?.resolve('OK');
	}

	/** ioredis' retry after the drop: a new socket, ready. */
	reconnect(): void {
		this.retry();
		this.stream = this.newSocket();
		this.sockets++;
		this.succeed();
	}

	private newSocket(): FakeSocket {
		return new FakeSocket(() => {
			this.commandQueue.length = 0;
			this.setStatus('close');
			this.setStatus('reconnecting');
		});
	}
}

const noReply = () => new Promise<never>(() => undefined);

beforeEach(() => {
	jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
});

afterEach(() => {
	jest.useRealTimers();
});

// Deadlines and silences are read from `performance.now()`, which jest's fake timers move too.
async function advance(ms: number) {
	jest.advanceTimersByTime(ms);
	await flush();
}

/** Every message on the dead-connection channel while `body` runs. */
async function published(body: (messages: DeadConnectionMessage[]) => Promise<void>) {
	const messages: DeadConnectionMessage[] = [];
	const onMessage = (message: unknown) => {
		messages.push(message as DeadConnectionMessage);
	};

	subscribe(channels.deadConnection, onMessage);
	try {
		await body(messages);
	} finally {
		unsubscribe(channels.deadConnection, onMessage);
	}
}

describe('the rule: nothing received for deadConnectionMs while commands wait', () => {
	test('commands time out on a silent socket: dropped once silence reaches deadConnectionMs; fail fast until the new connection is ready', async () => {
		const client = new SocketRedis();
		const guard = guardedRedis(client, {timeoutMs: 100, deadConnectionMs: 200});
		await published(async messages => {
			const first = rejection(guard.run(async redis => redis.get()));
			await advance(60);
			const second = rejection(guard.run(async redis => redis.get()));
			await advance(40);
			// The first deadline: 100 ms of silence, under the threshold.
			expect((await first).code).toBe('TIMEOUT');
			expect(client.stream.destroyed).toBe(false);

			await advance(60);
			expect((await second).code).toBe('TIMEOUT');
			expect(client.stream.destroyed).toBe(false);
			const third = rejection(guard.run(async redis => redis.get()));
			await advance(100);
			// Its deadline at 260 ms: nothing received since the first command went out, 260 ms ago.
			expect((await third).code).toBe('TIMEOUT');
			expect(client.stream.destroyed).toBe(true);
			expect(messages).toEqual([{
				server: 'fake.test:6379', connection: 'fake.test:6379', silentMs: 260, deadConnectionMs: 200, wholeClient: true,
			}]);

			// Until the client is ready on a new socket: CONNECT_FAILED at once, its cause says why.
			const failed = await rejection(guard.ensureConnected({timeoutMs: 5000}));
			expect(failed.code).toBe('CONNECT_FAILED');
			expect(failed.cause).toBeInstanceOf(ConnectionGuardError);
			expect((failed.cause as ConnectionGuardError).code).toBe('DEAD_CONNECTION');
			expect((failed.cause as Error).message).toContain('received nothing for 260 ms');
			expect(guard.isReady).toBe(false);
			const viaRun = await rejection(guard.run(async redis => redis.get()));
			expect(viaRun.code).toBe('CONNECT_FAILED');

			const waiting = guard.ensureConnected({waitForReady: true, timeoutMs: 5000});
			client.reconnect();
			await flush();
			await expect(waiting).resolves.toBe(client);
			expect(guard.isReady).toBe(true);
			const reply = guard.run(async redis => redis.get());
			client.answer();
			await expect(reply).resolves.toBe('OK');
			expect(messages).toHaveLength(1);
		});
	});

	test('with deadConnectionMs ≤ timeoutMs, the first deadline of a silent socket drops it (back within timeoutMs + one reconnect)', async () => {
		const client = new SocketRedis();
		const guard = guardedRedis(client, {timeoutMs: 100, deadConnectionMs: 100});
		const command = rejection(guard.run(async redis => redis.get()));
		await advance(100);
		expect((await command).code).toBe('TIMEOUT');
		expect(client.stream.destroyed).toBe(true);
	});

	test('a slow command shorter than deadConnectionMs: the commands behind it time out, the reply comes, nothing is dropped', async () => {
		const client = new SocketRedis();
		const guard = guardedRedis(client, {timeoutMs: 100, deadConnectionMs: 300});
		// A 250 ms script: everything behind it on this connection waits, and the first ones reach their deadlines.
		const slow = client.get();
		const behind: Array<Promise<unknown>> = [];
		for (let tick = 0; tick < 5; tick++) {
			behind.push(guard.run(async redis => redis.get()).catch((error: unknown) => (error as ConnectionGuardError).code));
			// eslint-disable-next-line no-await-in-loop
			await advance(50);
		}

		// The script ends: its reply, then the replies of everything behind it.
		while (client.commandQueue.length > 0) {
			client.answer();
		}

		await expect(slow).resolves.toBe('OK');
		// Sent at 0, 50, 100, 150, 200 ms with 100 ms deadlines: three passed before the script ended at 250 ms.
		expect(await Promise.all(behind)).toEqual(['TIMEOUT', 'TIMEOUT', 'TIMEOUT', 'TIMEOUT', 'OK']);
		for (let tick = 0; tick < 6; tick++) {
			const reply = guard.run(async redis => redis.get());
			client.answer();
			// eslint-disable-next-line no-await-in-loop
			await expect(reply).resolves.toBe('OK');
			// eslint-disable-next-line no-await-in-loop
			await advance(50);
		}

		expect(client.stream.destroyed).toBe(false);
		expect(guard.isReady).toBe(true);
	});

	test('the same slow command held longer than deadConnectionMs: dropped, as documented (nothing tells it from a dead peer)', async () => {
		const client = new SocketRedis();
		const guard = guardedRedis(client, {timeoutMs: 100, deadConnectionMs: 300});
		const slow = client.get().catch((error: unknown) => error);
		for (let tick = 0; tick < 8 && !client.stream.destroyed; tick++) {
			guard.run(async redis => redis.get()).catch(() => undefined);
			// eslint-disable-next-line no-await-in-loop
			await advance(50);
		}

		expect(client.stream.destroyed).toBe(true);
		// Flushed with the rule's error, never resent; the callers of run() behind it had their TIMEOUT already.
		expect(await slow).toMatchObject({code: 'DEAD_CONNECTION'});
		expect(client.commandQueue).toHaveLength(0);
	});

	test('an idle connection: one slow reply after a long quiet spell is not silence while waiting', async () => {
		const client = new SocketRedis();
		const guard = guardedRedis(client, {timeoutMs: 100, deadConnectionMs: 150});
		await advance(60_000);
		const command = rejection(guard.run(async redis => redis.get()));
		await advance(100);
		expect((await command).code).toBe('TIMEOUT');
		expect(client.stream.destroyed).toBe(false);
	});

	test('deadConnectionMs: false turns it off: minutes of silence, commands time out, the socket stays', async () => {
		const client = new SocketRedis();
		const guard = guardedRedis(client, {timeoutMs: 100, deadConnectionMs: false});
		for (let tick = 0; tick < 20; tick++) {
			guard.run(async redis => redis.get()).catch(() => undefined);
			// eslint-disable-next-line no-await-in-loop
			await advance(1000);
		}

		expect(client.stream.destroyed).toBe(false);
	});

	test('the default: twice timeoutMs, at least 1000 ms', async () => {
		const client = new SocketRedis();
		const guard = guardedRedis(client, {timeoutMs: 300});
		for (let tick = 0; tick < 10 && !client.stream.destroyed; tick++) {
			guard.run(async redis => redis.get()).catch(() => undefined);
			// eslint-disable-next-line no-await-in-loop
			await advance(100);
		}

		// Dropped at the first deadline past 1000 ms of silence (commands sent at 0, 100, … time out at 300, 400, …).
		expect(client.stream.destroyed).toBe(true);
		expect(performance.now()).toBeGreaterThanOrEqual(1000);
		expect(performance.now()).toBeLessThan(1200);
	});

	test('commands in flight on the dropped socket get CONNECTION_LOST at once, within their deadline', async () => {
		const client = new SocketRedis();
		const guard = guardedRedis(client, {timeoutMs: 100, deadConnectionMs: 100});
		const first = rejection(guard.run(async redis => redis.get()));
		await advance(50);
		const later = rejection(guard.run(async redis => redis.get(), {timeoutMs: 10_000}));
		await advance(50);
		expect((await first).code).toBe('TIMEOUT');
		const lost = await later;
		expect(lost.code).toBe('CONNECTION_LOST');
		// Rejected by the rule itself, so ioredis resends nothing on the new socket (nothing counted twice).
		expect(lost.cause).toMatchObject({code: 'DEAD_CONNECTION'});
		expect(performance.now()).toBeLessThan(10_050);
	});

	test('a Cluster: only the silent node with commands waiting is dropped; the cluster stays ready', async () => {
		const silent = new SocketRedis();
		const answering = new SocketRedis();
		const idle = new SocketRedis();
		silent.options = {host: 'node-a.test', port: 7000};
		answering.options = {host: 'node-b.test', port: 7001};
		idle.options = {host: 'node-c.test', port: 7002};
		const cluster = Object.assign(new FakeRedis(), {
			isCluster: true,
			status: 'ready',
			startupNodes: [{host: 'node-a.test', port: 7000}],
			nodes: () => [silent, answering, idle],
		});
		const guard = guardedRedis(cluster, {timeoutMs: 100, deadConnectionMs: 150});
		await published(async messages => {
			for (let tick = 0; tick < 4; tick++) {
				guard.run(async () => silent.get()).catch(() => undefined);
				const answered = guard.run(async () => answering.get());
				answering.answer();
				// eslint-disable-next-line no-await-in-loop
				await answered;
				// eslint-disable-next-line no-await-in-loop
				await advance(50);
			}

			expect(silent.stream.destroyed).toBe(true);
			expect(answering.stream.destroyed).toBe(false);
			expect(idle.stream.destroyed).toBe(false);
			expect(messages.map(message => [message.connection, message.wholeClient])).toEqual([['node-a.test:7000', false]]);
			expect(guard.isReady).toBe(true);
			await expect(guard.ensureConnected()).resolves.toBe(cluster);
		});
	});

	test('node-redis: silence is the replies run() sees; the drop is destroy() then connect()', async () => {
		const client = Object.assign(new FakeNodeRedis(), {
			destroy: jest.fn(function (this: FakeNodeRedis) {
				this.isOpen = false;
				this.isReady = false;
				this.emit('end');
			}),
			ping: async () => 'PONG',
		});
		const connecting = client.connect();
		client.succeed();
		await connecting;
		const guard = guardedRedis(client, {timeoutMs: 100, deadConnectionMs: 150});
		await expect(guard.run(async () => 'answered')).resolves.toBe('answered');
		for (let tick = 0; tick < 4; tick++) {
			guard.run(async () => noReply()).catch(() => undefined);
			// eslint-disable-next-line no-await-in-loop
			await advance(50);
		}

		expect(client.destroy).toHaveBeenCalledTimes(1);
		expect(client.connectCalls).toBe(2);
		expect((await rejection(guard.ensureConnected())).cause).toMatchObject({code: 'DEAD_CONNECTION'});
		client.succeed();
		await flush();
		await expect(guard.ensureConnected()).resolves.toBe(client);
	});
});

describe('heartbeatMs: one PING on an idle connection', () => {
	test('off by default: no timer, no PING', async () => {
		const client = new SocketRedis();
		const before = jest.getTimerCount();
		guardedRedis(client, {timeoutMs: 100});
		expect(jest.getTimerCount()).toBe(before);
		await advance(60_000);
		expect(client.pings).toBe(0);
	});

	test('a PING per period on an idle connection, none while it receives; close() clears its one timer', async () => {
		const client = new SocketRedis();
		const before = jest.getTimerCount();
		const guard = guardedRedis(client, {timeoutMs: 100, heartbeatMs: 1000});
		expect(jest.getTimerCount()).toBe(before + 1);
		await advance(1000);
		// The first beat only looks: idle means nothing received for a whole period.
		expect(client.pings).toBe(0);
		await advance(1000);
		expect(client.pings).toBe(1);
		client.answer();
		await flush();
		await advance(1000);
		expect(client.pings).toBe(2);
		client.answer();
		await flush();

		// Traffic between the beats: no PING.
		for (let tick = 0; tick < 6; tick++) {
			const reply = guard.run(async redis => redis.get());
			client.answer();
			// eslint-disable-next-line no-await-in-loop
			await reply;
			// eslint-disable-next-line no-await-in-loop
			await advance(500);
		}

		expect(client.pings).toBe(2);
		client.disconnect();
		await guard.close();
		expect(jest.getTimerCount()).toBe(before);
	});

	test('close() of any guard of the client clears the heartbeat, also one made before the guard that asked for it', async () => {
		const client = new SocketRedis();
		const before = jest.getTimerCount();
		// Both off (a deadline of Infinity turns the rule's default off too): this guard made no rule of its own.
		const first = guardedRedis(client, {timeoutMs: Number.POSITIVE_INFINITY, heartbeatMs: false});
		guardedRedis(client, {timeoutMs: 100, heartbeatMs: 1000});
		expect(jest.getTimerCount()).toBe(before + 1);
		client.disconnect();
		await first.close();
		expect(jest.getTimerCount()).toBe(before);
		await advance(5000);
		expect(client.pings).toBe(0);
	});

	test('one rule and one heartbeat timer per client, however many guards: the smallest settings apply', async () => {
		const client = new SocketRedis();
		const before = jest.getTimerCount();
		for (let index = 0; index < 1000; index++) {
			guardedRedis(client, {timeoutMs: 100, heartbeatMs: 2000});
		}

		guardedRedis(client, {timeoutMs: 100, heartbeatMs: 500});
		expect(jest.getTimerCount()).toBe(before + 1);
		await advance(1000);
		expect(client.pings).toBe(1);
	});

	test('a dead idle connection: the PINGs reach their deadline and the rule drops it before any request pays', async () => {
		const client = new SocketRedis();
		guardedRedis(client, {timeoutMs: 100, heartbeatMs: 500, deadConnectionMs: 200});
		for (let tick = 0; tick < 10 && !client.stream.destroyed; tick++) {
			// eslint-disable-next-line no-await-in-loop
			await advance(100);
		}

		// Beats at 500 (a look) and 1000 (PING, due at 1100: 100 ms silent) and 1500 (PING, due at 1600: 600 ms silent).
		expect(client.stream.destroyed).toBe(false);
		for (let tick = 0; tick < 6; tick++) {
			// eslint-disable-next-line no-await-in-loop
			await advance(100);
		}

		expect(client.pings).toBe(2);
		expect(client.stream.destroyed).toBe(true);
	});
});

describe('bad options: a TypeError or RangeError naming the option', () => {
	test.each([
		[{deadConnectionMs: -1}, RangeError, /`deadConnectionMs`/],
		[{deadConnectionMs: 0}, RangeError, /`deadConnectionMs` to be a positive number/],
		[{deadConnectionMs: Number.NaN}, RangeError, /`deadConnectionMs`/],
		[{deadConnectionMs: '1000'}, TypeError, /`deadConnectionMs` to be a number of milliseconds or `false`, got `string`/],
		[{deadConnectionMs: true}, TypeError, /`deadConnectionMs`.*got `boolean`/],
		[{heartbeatMs: 0}, RangeError, /`heartbeatMs`/],
		[{heartbeatMs: null}, TypeError, /`heartbeatMs`.*got `null`/],
		[{heartbeatMS: 1000}, TypeError, /Unknown option `heartbeatMS`: did you mean `heartbeatMs`\?/],
	])('%p', (options, type, message) => {
		expect(() => guardedRedis(new SocketRedis(), options as never)).toThrow(type);
		expect(() => guardedRedis(new SocketRedis(), options as never)).toThrow(message);
	});

	test('Infinity and false are off; a positive number is taken', () => {
		const off = {deadConnectionMs: Number.POSITIVE_INFINITY, heartbeatMs: false} as const;
		expect(() => guardedRedis(new SocketRedis(), off)).not.toThrow();
		expect(() => guardedRedis(new SocketRedis(), {deadConnectionMs: 1, heartbeatMs: 1})).not.toThrow();
	});
});
