import {EventEmitter} from 'node:events';
import RedisMock from 'ioredis-mock';
import {ConnectionGuardError, guardedRedis} from '../../src/index.js';
import {flush, settledState} from '../helpers/deferred.js';
import {FakeRedis} from '../helpers/fake-client.js';
import {rejection} from '../helpers/rejection.js';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), {code: 'ECONNREFUSED'});

describe('guardedRedis(client).ensureConnected() on a fake ioredis client', () => {
	test('ready: resolves with the client at once, with no connect(), listener or timer, and the same cached promise', async () => {
		const client = new FakeRedis();
		client.status = 'ready';
		const guard = guardedRedis(client);
		const before = client.totalListeners();
		const timersBefore = process.getActiveResourcesInfo().filter(name => name === 'Timeout').length;

		const p1 = guard.ensureConnected();
		const p2 = guard.ensureConnected({timeoutMs: 10});
		expect(p1).toBe(p2);
		expect(client.totalListeners()).toBe(before);
		expect(process.getActiveResourcesInfo().filter(name => name === 'Timeout')).toHaveLength(timersBefore);
		await expect(p1).resolves.toBe(client);
		expect(client.connectCalls).toBe(0);
		expect(guard.isReady).toBe(true);
	});

	test('wait: concurrent callers share one connect() and all resolve with the client', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client);

		const callers = Array.from({length: 100}, async () => guard.ensureConnected());
		expect(client.connectCalls).toBe(1);
		expect(guard.isReady).toBe(false);
		client.succeed();
		const results = await Promise.all(callers);
		expect(results.every(result => result === client)).toBe(true);
		expect(client.connectCalls).toBe(1);
		expect(guard.isReady).toBe(true);
	});

	test('two guards of one client share one state and one connect()', async () => {
		const client = new FakeRedis();
		const a = guardedRedis(client);
		const b = guardedRedis(client);

		const pa = a.ensureConnected();
		const pb = b.ensureConnected();
		expect(client.connectCalls).toBe(1);
		client.succeed();
		await expect(Promise.all([pa, pb])).resolves.toEqual([client, client]);
	});

	test.each(['connecting', 'connect'])('%s: waits for the try under way without calling connect()', async status => {
		const client = new FakeRedis();
		client.status = status;
		const guard = guardedRedis(client);

		const pending = guard.ensureConnected();
		await flush();
		expect(await settledState(pending)).toBe('pending');
		expect(client.connectCalls).toBe(0);

		client.setStatus('ready');
		await expect(pending).resolves.toBe(client);
		expect(client.connectCalls).toBe(0);
	});

	test('reconnecting (between the client\'s own tries): fails fast with CONNECT_FAILED at once, never calls connect()', async () => {
		const client = new FakeRedis();
		client.status = 'reconnecting';
		const error = await rejection(guardedRedis(client).ensureConnected());
		expect(error.code).toBe('CONNECT_FAILED');
		// The guard was not watching when the try failed: the cause says the connection closed.
		expect((error.cause as Error).message).toBe('Connection is closed.');
		expect(client.connectCalls).toBe(0);
	});

	test('reconnecting with waitForReady: waits for the client\'s next try, never calls connect()', async () => {
		const client = new FakeRedis();
		client.status = 'reconnecting';
		const pending = guardedRedis(client).ensureConnected({waitForReady: true});
		await flush();
		expect(await settledState(pending)).toBe('pending');
		client.retry();
		await flush();
		client.succeed();
		await expect(pending).resolves.toBe(client);
		expect(client.connectCalls).toBe(0);
	});

	test('a connect() started elsewhere in flight is joined, and its "already connecting" error never reaches a caller', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client);
		const external = client.connect();
		const pending = guard.ensureConnected();
		client.succeed();
		await external;
		await expect(pending).resolves.toBe(client);
		expect(client.connectCalls).toBe(1);
	});

	test('end after failed retries: a fresh connect() is made', async () => {
		const client = new FakeRedis();
		client.status = 'end';
		const guard = guardedRedis(client);
		const pending = guard.ensureConnected();
		expect(client.connectCalls).toBe(1);
		client.succeed();
		await expect(pending).resolves.toBe(client);
	});

	test('failure: every waiter of the attempt gets the same CONNECT_FAILED error naming host:port, with the cause', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client);
		const cause = refused();

		const waiters = [guard.ensureConnected(), guard.ensureConnected(), guard.ensureConnected()];
		client.fail(cause);
		const errors = await Promise.all(waiters.map(async waiter => waiter.catch((error: unknown) => error)));
		expect(errors[0]).toBeInstanceOf(ConnectionGuardError);
		expect(errors[0]).toMatchObject({code: 'CONNECT_FAILED', cause});
		expect((errors[0] as Error).message).toContain('fake.test:6379');
		expect((errors[0] as Error).message).toContain('ECONNREFUSED');
		expect(errors[1]).toBe(errors[0]);
		expect(errors[2]).toBe(errors[0]);
	});

	test('after a failure the next call starts a fresh attempt: never a cached rejection', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client);

		const first = guard.ensureConnected();
		client.fail(refused());
		await expect(first).rejects.toMatchObject({code: 'CONNECT_FAILED'});

		const second = guard.ensureConnected();
		expect(client.connectCalls).toBe(2);
		client.succeed();
		await expect(second).resolves.toBe(client);
	});

	test('a failed try while ioredis retries by itself: waiters fail fast with its error, and so does every call until the next try', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client);

		const first = guard.ensureConnected();
		const cause = refused();
		client.fail(cause, {retry: true});
		const failed = await rejection(first);
		expect(failed).toMatchObject({code: 'CONNECT_FAILED', cause});
		expect(client.status).toBe('reconnecting');

		// Between tries: at once, with the same failure (the client's real error), no connect().
		await expect(guard.ensureConnected()).rejects.toBe(failed);

		// A try under way is waited for.
		client.retry();
		await flush();
		const third = guard.ensureConnected();
		client.succeed();
		await expect(third).resolves.toBe(client);
		// The guard never called connect() while ioredis was retrying.
		expect(client.connectCalls).toBe(1);
	});

	test('quitting (QUIT sent, status still ready): not ready; waits for the end, then connects', async () => {
		const client = new FakeRedis();
		client.status = 'ready';
		const guard = guardedRedis(client);
		await client.quit();
		expect(guard.isReady).toBe(false);

		const pending = guard.ensureConnected();
		await flush();
		expect(client.connectCalls).toBe(0);
		client.socketClosed();
		await flush();
		expect(client.connectCalls).toBe(1);
		client.succeed();
		await expect(pending).resolves.toBe(client);
	});

	test('a synchronous throw from connect() becomes CONNECT_FAILED with that cause', async () => {
		const client = new FakeRedis();
		const cause = new Error('boom');
		client.connect = () => {
			throw cause;
		};

		await expect(guardedRedis(client).ensureConnected()).rejects.toMatchObject({code: 'CONNECT_FAILED', cause});
	});

	describe('listeners', () => {
		test('one set per attempt, shared by 5,000 waiters, removed when it settles; no MaxListenersExceededWarning', async () => {
			const warnings: Error[] = [];
			const onWarning = (warning: Error) => warnings.push(warning);
			process.on('warning', onWarning);
			try {
				const client = new FakeRedis();
				const guard = guardedRedis(client);
				const before = client.totalListeners();

				const waiters = Array.from({length: 5000}, async () => guard.ensureConnected());
				expect(client.totalListeners() - before).toBeLessThanOrEqual(8);
				for (const name of client.eventNames()) {
					expect(client.listenerCount(name)).toBeLessThanOrEqual(client.getMaxListeners());
				}

				client.succeed();
				await Promise.all(waiters);
				expect(client.totalListeners()).toBe(before);
				await flush();
				expect(warnings.filter(warning => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
			} finally {
				process.removeListener('warning', onWarning);
			}
		});

		test('removed after a failed attempt too', async () => {
			const client = new FakeRedis();
			const guard = guardedRedis(client);
			const before = client.totalListeners();
			const pending = guard.ensureConnected();
			client.fail(refused());
			await expect(pending).rejects.toThrow(ConnectionGuardError);
			expect(client.totalListeners()).toBe(before);
		});
	});

	describe('deadlines (fake timers)', () => {
		beforeEach(() => {
			jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
		});

		afterEach(() => {
			jest.useRealTimers();
		});

		test('timeoutMs rejects with TIMEOUT when the deadline passes; the shared attempt goes on for others', async () => {
			const client = new FakeRedis();
			const guard = guardedRedis(client);

			const short = guard.ensureConnected({timeoutMs: 100});
			const long = guard.ensureConnected({timeoutMs: 10_000});
			jest.advanceTimersByTime(100);
			await expect(short).rejects.toMatchObject({code: 'TIMEOUT'});
			expect(await settledState(long)).toBe('pending');

			client.succeed();
			await expect(long).resolves.toBe(client);
			expect(client.connectCalls).toBe(1);
			expect(jest.getTimerCount()).toBe(0);
		});

		test('the default deadline is 5 seconds and guardedRedis({timeoutMs}) changes it', async () => {
			const client = new FakeRedis();
			const byDefault = guardedRedis(client).ensureConnected();
			const custom = guardedRedis(client, {timeoutMs: 50}).ensureConnected();

			jest.advanceTimersByTime(50);
			await expect(custom).rejects.toMatchObject({code: 'TIMEOUT'});
			jest.advanceTimersByTime(4949);
			expect(await settledState(byDefault)).toBe('pending');
			jest.advanceTimersByTime(1);
			await expect(byDefault).rejects.toMatchObject({code: 'TIMEOUT'});
		});

		test('a TIMEOUT carries the client\'s last error as cause, and names it', async () => {
			const client = new FakeRedis();
			client.status = 'reconnecting';
			const pending = guardedRedis(client).ensureConnected({timeoutMs: 100, waitForReady: true});
			const cause = refused();
			client.emit('error', cause);
			jest.advanceTimersByTime(100);
			const error = await rejection(pending);
			expect(error).toMatchObject({code: 'TIMEOUT', cause});
			expect(error?.message).toContain('ECONNREFUSED');
			expect(error?.message).toContain('within 100 ms');
		});

		test('timeoutMs: Infinity waits with no timer', async () => {
			const client = new FakeRedis();
			const pending = guardedRedis(client).ensureConnected({timeoutMs: Number.POSITIVE_INFINITY});
			expect(jest.getTimerCount()).toBe(0);
			client.succeed();
			await expect(pending).resolves.toBe(client);
		});

		test('no unhandled rejection when every caller timed out before the attempt failed', async () => {
			const client = new FakeRedis();
			const guard = guardedRedis(client);
			const waiters = [guard.ensureConnected({timeoutMs: 10}), guard.ensureConnected({timeoutMs: 10})];
			jest.advanceTimersByTime(10);
			await expect(Promise.all(waiters)).rejects.toMatchObject({code: 'TIMEOUT'});
			client.fail(refused());
			await flush();
			// The setup file fails this test if the attempt's rejection went unhandled.
			const next = guard.ensureConnected();
			expect(client.connectCalls).toBe(2);
			client.succeed();
			await expect(next).resolves.toBe(client);
		});
	});

	describe('abort', () => {
		test('an aborted caller rejects at once with ABORTED and cause = signal.reason; others keep waiting', async () => {
			const client = new FakeRedis();
			const guard = guardedRedis(client);
			const controller = new AbortController();
			const reason = new Error('request cancelled');

			const aborted = guard.ensureConnected({signal: controller.signal});
			const other = guard.ensureConnected();
			controller.abort(reason);
			await expect(aborted).rejects.toMatchObject({code: 'ABORTED', cause: reason});
			expect(await settledState(other)).toBe('pending');

			client.succeed();
			await expect(other).resolves.toBe(client);
		});

		test('an already-aborted signal makes no connect() at all', async () => {
			const client = new FakeRedis();
			const signal = AbortSignal.abort();
			await expect(guardedRedis(client).ensureConnected({signal})).rejects.toMatchObject({code: 'ABORTED'});
			expect(client.connectCalls).toBe(0);
		});

		test('the abort listener is removed once the call settles', async () => {
			const client = new FakeRedis();
			const controller = new AbortController();
			const added = jest.spyOn(controller.signal, 'addEventListener');
			const removed = jest.spyOn(controller.signal, 'removeEventListener');
			const pending = guardedRedis(client).ensureConnected({signal: controller.signal});
			client.succeed();
			await pending;
			expect(added).toHaveBeenCalledTimes(1);
			expect(removed).toHaveBeenCalledWith('abort', added.mock.calls[0]![1]);
		});
	});

	describe('close()', () => {
		test('quits a ready client, resolves once it ended, then every ensureConnected() rejects with CLOSED', async () => {
			const client = new FakeRedis();
			client.status = 'ready';
			const quit = jest.spyOn(client, 'quit').mockImplementation(async () => {
				client.manuallyClosing = true;
				process.nextTick(() => {
					client.socketClosed();
				});
				return 'OK';
			});
			const guard = guardedRedis(client);
			const other = guardedRedis(client);

			await guard.close();
			expect(quit).toHaveBeenCalledTimes(1);
			expect(client.status).toBe('end');
			expect(guard.isReady).toBe(false);
			await expect(guard.ensureConnected()).rejects.toMatchObject({code: 'CLOSED'});
			await expect(other.ensureConnected()).rejects.toMatchObject({code: 'CLOSED'});
			expect(client.connectCalls).toBe(0);
			expect(guard.close()).toBe(guard.close());
		});

		test('rejects the waiters of a pending attempt with CLOSED and leaves no listener', async () => {
			const client = new FakeRedis();
			const guard = guardedRedis(client);
			const before = client.totalListeners();
			const pending = guard.ensureConnected();
			await guard.close();
			await expect(pending).rejects.toMatchObject({code: 'CLOSED'});
			expect(client.totalListeners()).toBe(before);
		});
	});

	test('a minimal test double (EventEmitter with `status` and `connect()` only) is recognised and guarded', async () => {
		const double = Object.assign(new EventEmitter(), {
			status: 'wait',
			calls: 0,
			async connect() {
				double.calls++;
				double.status = 'connecting';
				await Promise.resolve();
				double.status = 'ready';
				double.emit('ready');
			},
		});
		const guard = guardedRedis(double);
		await expect(Promise.all([guard.ensureConnected(), guard.ensureConnected()])).resolves.toEqual([double, double]);
		expect(double.calls).toBe(1);
	});

});

describe('guardedRedis on ioredis-mock', () => {
	test('a lazy mock is connected once for concurrent callers and resolves with the mock', async () => {
		const client = new RedisMock({lazyConnect: true});
		const connect = jest.spyOn(client, 'connect');
		const guard = guardedRedis(client);

		const results = await Promise.all(Array.from({length: 50}, async () => guard.ensureConnected()));
		expect(connect).toHaveBeenCalledTimes(1);
		expect(results.every(result => result === client)).toBe(true);
		await expect(client.set('key', 'value')).resolves.toBe('OK');
	});

	test('an already-connected mock (lazyConnect: false) is ready: no connect(), which would throw', async () => {
		const client = new RedisMock();
		const connect = jest.spyOn(client, 'connect');
		await expect(guardedRedis(client).ensureConnected()).resolves.toBe(client);
		expect(connect).not.toHaveBeenCalled();
	});

	test.each([false, true])('waitForReady %p: a lazy mock connects once for a herd; a mock whose connect() throws is retried, never stuck', async waitForReady => {
		const client = new RedisMock({lazyConnect: true});
		const connect = jest.spyOn(client, 'connect');
		const guard = guardedRedis(client, {waitForReady});
		await expect(Promise.all(Array.from({length: 20}, async () => guard.ensureConnected()))).resolves.toHaveLength(20);
		expect(connect).toHaveBeenCalledTimes(1);

		client.disconnect();
		connect.mockImplementationOnce(() => {
			throw new Error('mock refuses once');
		});
		const first = guard.ensureConnected({timeoutMs: 2000});
		if (waitForReady) {
			// The guard's backoff retries the synchronous throw 50 ms later, and that try succeeds.
			await expect(first).resolves.toBe(client);
		} else {
			await expect(first).rejects.toMatchObject({code: 'CONNECT_FAILED', cause: {message: 'mock refuses once'}});
			await expect(guard.ensureConnected()).resolves.toBe(client);
		}

		expect(connect).toHaveBeenCalledTimes(3);
	});

	test('after disconnect() the next ensureConnected() connects again; close() stops for good', async () => {
		const client = new RedisMock();
		const guard = guardedRedis(client);
		client.disconnect();
		expect(guard.isReady).toBe(false);
		await expect(guard.ensureConnected()).resolves.toBe(client);
		expect(guard.isReady).toBe(true);
		await guard.close();
		await expect(guard.ensureConnected()).rejects.toMatchObject({code: 'CLOSED'});
	});
});
