/*
guard.run(fn): connect if needed, then fn(client), under one deadline; `CONNECTION_LOST` when the connection drops with
the command in flight; fn's own errors unchanged. On fake clients with fake timers; the same on real servers in
__tests__/integration/contract.ts.
*/
import RedisMock from 'ioredis-mock';
import {ConnectionGuardError, guardedRedis} from '../../src/index.js';
import {deferred, flush, settledState} from '../helpers/deferred.js';
import {FakeNodeRedis, FakeRedis} from '../helpers/fake-client.js';
import {errorOf, rejection} from '../helpers/rejection.js';

const reset = () => Object.assign(new Error('read ECONNRESET'), {code: 'ECONNRESET'});

async function readyClient(): Promise<FakeRedis> {
	const client = new FakeRedis();
	client.status = 'ready';
	return client;
}

beforeEach(() => {
	jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
});

afterEach(() => {
	jest.useRealTimers();
});

// The deadlines are read from `performance.now()`, which jest's fake timers move too.
const advance = (ms: number) => {
	jest.advanceTimersByTime(ms);
};

describe('guard.run(fn) on a ready client', () => {
	test('resolves with what fn returns; fn gets the client, once', async () => {
		const client = await readyClient();
		const fn = jest.fn(async (redis: FakeRedis) => redis === client ? 'reply' : 'wrong client');
		await expect(guardedRedis(client).run(fn)).resolves.toBe('reply');
		expect(fn).toHaveBeenCalledTimes(1);
		expect(client.connectCalls).toBe(0);
	});

	test('a plain (non-promise) value and a synchronous throw of fn: resolved, and rejected unchanged', async () => {
		const client = await readyClient();
		const guard = guardedRedis(client);
		await expect(guard.run(() => 42)).resolves.toBe(42);
		const thrown = new Error('fn threw');
		await expect(guard.run(() => {
			throw thrown;
		})).rejects.toBe(thrown);
	});

	test('fn\'s own error (a ReplyError such as WRONGTYPE) passes through unchanged, not wrapped', async () => {
		const client = await readyClient();
		const wrongType = Object.assign(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), {name: 'ReplyError'});
		await expect(guardedRedis(client).run(async () => Promise.reject(wrongType))).rejects.toBe(wrongType);
	});

	test('no reply by the deadline (a frozen server): TIMEOUT at the deadline, and the late reply is dropped', async () => {
		const client = await readyClient();
		const reply = deferred<string>();
		const pending = guardedRedis(client).run(async () => reply.promise, {timeoutMs: 200});
		advance(199);
		expect(await settledState(pending)).toBe('pending');
		advance(1);
		const error = await rejection(pending);
		expect(error.code).toBe('TIMEOUT');
		expect(error.message).toBe('Redis at fake.test:6379 did not answer within 200 ms');
		reply.reject(new Error('late'));
		await flush();
	});

	test('each call keeps its own deadline: a short one sent after a long one times out first', async () => {
		const client = await readyClient();
		const guard = guardedRedis(client, {timeoutMs: 1000});
		const never = () => new Promise<never>(() => undefined);
		const long = guard.run(never);
		advance(100);
		const short = guard.run(never, {timeoutMs: 300});
		advance(300);
		expect(await settledState(short)).toBe('rejected');
		expect(await settledState(long)).toBe('pending');
		advance(600);
		await expect(long).rejects.toMatchObject({code: 'TIMEOUT'});
		await expect(short).rejects.toMatchObject({code: 'TIMEOUT', message: expect.stringContaining('300 ms')});
	});

	test('10,000 calls in flight: one timer and one listener for all of them, both gone once nothing is in flight', async () => {
		const client = await readyClient();
		const guard = guardedRedis(client, {timeoutMs: 1000});
		const listenersBefore = client.totalListeners();
		const replies = Array.from({length: 10_000}, () => deferred<number>());
		const calls = replies.map(async reply => guard.run(async () => reply.promise));
		expect(jest.getTimerCount()).toBe(1);
		expect(client.totalListeners()).toBe(listenersBefore + 1);
		for (const [index, reply] of replies.entries()) {
			reply.resolve(index);
		}

		expect(await Promise.all(calls)).toEqual(replies.map((_, index) => index));
		// Settling leaves the timer armed (re-arming it per call is what this saves); it finds nothing due and goes.
		advance(1000);
		expect(jest.getTimerCount()).toBe(0);
		expect(client.totalListeners()).toBe(listenersBefore);
	});

	test('the connection drops with commands in flight: CONNECTION_LOST at once, not at the deadline; later calls are unaffected', async () => {
		const client = await readyClient();
		client.on('error', () => undefined);
		const guard = guardedRedis(client, {timeoutMs: 5000});
		const sentAt = jest.now();
		const unanswered = async () => new Promise(() => undefined);
		const inFlight = [guard.run(unanswered), guard.run(unanswered)];
		client.connectionDropped(reset());
		await flush();
		const [first, second] = await Promise.all(inFlight.map(async call => rejection(call)));
		expect(first).toMatchObject({code: 'CONNECTION_LOST', message: expect.stringContaining('fake.test:6379')});
		expect(second).toBe(first);
		expect(jest.now()).toBe(sentAt);

		client.retry();
		client.succeed();
		await flush();
		await expect(guard.run(() => 'after reconnect')).resolves.toBe('after reconnect');
	});

	test('node-redis rejects commands its dropped socket had sent: CONNECTION_LOST, with that error as cause', async () => {
		const client = new FakeNodeRedis();
		client.isOpen = true;
		client.isReady = true;
		// node-redis's own class, whose `name` stays 'Error' (measured on node-redis 5 and 6).
		class SocketClosedUnexpectedlyError extends Error {}
		const dropped = new SocketClosedUnexpectedlyError('Socket closed unexpectedly');
		const error = await rejection(guardedRedis(client).run(async () => Promise.reject(dropped)));
		expect(error).toMatchObject({code: 'CONNECTION_LOST', cause: dropped});
		expect(error.message).toContain('fake-node.test:6380');
	});

	test('signal: aborted while the command waits, ABORTED at once; its listener is removed when the call settles', async () => {
		const client = await readyClient();
		const guard = guardedRedis(client);
		const controller = new AbortController();
		const reason = new Error('request closed');
		const pending = guard.run(async () => new Promise(() => undefined), {signal: controller.signal});
		await flush();
		controller.abort(reason);
		await expect(pending).rejects.toMatchObject({code: 'ABORTED', cause: reason});

		const done = new AbortController();
		const added = jest.spyOn(done.signal, 'addEventListener');
		const removed = jest.spyOn(done.signal, 'removeEventListener');
		await expect(guard.run(() => 'ok', {signal: done.signal})).resolves.toBe('ok');
		expect(removed).toHaveBeenCalledWith('abort', added.mock.calls[0]![1]);
	});

	test('an already-aborted signal: ABORTED, and fn is never called', async () => {
		const client = await readyClient();
		const fn = jest.fn();
		await expect(guardedRedis(client).run(fn, {signal: AbortSignal.abort()})).rejects.toMatchObject({code: 'ABORTED'});
		expect(fn).not.toHaveBeenCalled();
	});
});

describe('guard.run(fn) on a client that is not ready', () => {
	test('a herd of run() calls on a lazy client makes one connect(), then each runs fn on the ready client', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client);
		const fn = jest.fn(() => client.status);
		const calls = Array.from({length: 100}, async () => guard.run(fn));
		expect(client.connectCalls).toBe(1);
		expect(fn).not.toHaveBeenCalled();
		client.succeed();
		expect(await Promise.all(calls)).toEqual(Array.from({length: 100}, () => 'ready'));
		expect(client.connectCalls).toBe(1);
	});

	test('one deadline for both: 600 ms connecting leaves the reply 400 ms of a 1000 ms deadline', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client, {timeoutMs: 1000});
		const pending = guard.run(async () => new Promise(() => undefined));
		advance(600);
		client.succeed();
		await flush();
		advance(399);
		expect(await settledState(pending)).toBe('pending');
		advance(1);
		await expect(pending).rejects.toMatchObject({code: 'TIMEOUT', message: expect.stringContaining('1000 ms')});
	});

	test('not ready by the deadline: TIMEOUT, and fn is never called (no command is sent late)', async () => {
		const client = new FakeRedis();
		const fn = jest.fn();
		const pending = guardedRedis(client).run(fn, {timeoutMs: 300});
		advance(300);
		await expect(pending).rejects.toMatchObject({code: 'TIMEOUT'});
		client.succeed();
		await flush();
		expect(fn).not.toHaveBeenCalled();
	});

	test('fail fast: the try fails, CONNECT_FAILED with the client\'s error, fn never called', async () => {
		const client = new FakeRedis();
		client.on('error', () => undefined);
		const fn = jest.fn();
		const pending = guardedRedis(client).run(fn);
		const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), {code: 'ECONNREFUSED'});
		client.fail(cause, {retry: true});
		await expect(pending).rejects.toMatchObject({code: 'CONNECT_FAILED', cause});
		expect(fn).not.toHaveBeenCalled();
	});

	test('waitForReady: through a failed try until ready, then fn', async () => {
		const client = new FakeRedis();
		client.on('error', () => undefined);
		const pending = guardedRedis(client).run(() => 'ran', {waitForReady: true, timeoutMs: 10_000});
		client.fail(new Error('connect ECONNREFUSED'), {retry: true});
		await flush();
		client.retry();
		client.succeed();
		await expect(pending).resolves.toBe('ran');
	});
});

describe('guard.run(fn) and close()', () => {
	test('after close(): CLOSED, fn never called', async () => {
		const client = await readyClient();
		const guard = guardedRedis(client);
		const closing = guard.close();
		client.socketClosed();
		await closing;
		const fn = jest.fn();
		await expect(guard.run(fn)).rejects.toMatchObject({code: 'CLOSED'});
		expect(fn).not.toHaveBeenCalled();
	});

	test('a command left unanswered by the closing connection: CLOSED, not CONNECTION_LOST', async () => {
		const client = await readyClient();
		const guard = guardedRedis(client, {timeoutMs: 5000});
		const pending = guard.run(async () => new Promise(() => undefined));
		const closing = guard.close();
		client.socketClosed();
		await closing;
		await expect(pending).rejects.toMatchObject({code: 'CLOSED'});
	});
});

test('ioredis-mock (what users\' own tests use): run() connects it and runs real commands', async () => {
	jest.useRealTimers();
	const client = new RedisMock({lazyConnect: true});
	const guard = guardedRedis(client);
	await expect(guard.run(async redis => redis.incr('run:mock'))).resolves.toBe(1);
	const wrongType = await errorOf(guard.run(async redis => {
		await redis.set('run:mock:string', 'x');
		return redis.lpush('run:mock:string', 'y');
	}));
	// ioredis-mock's own wording for WRONGTYPE, passed through as it is.
	expect(wrongType).not.toBeInstanceOf(ConnectionGuardError);
	expect(String(wrongType)).toBe('Error: Key run:mock:string does not contain a list');
	await guard.close();
});
