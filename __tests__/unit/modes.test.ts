/*
The two modes of ensureConnected() on fake ioredis and node-redis clients, with fake timers: fail fast (the default) and
waitForReady, the guard's own backoff, and the real error as `cause` everywhere.
*/
import {guardedRedis} from '../../src/index.js';
import {flush, settledState} from '../helpers/deferred.js';
import {FakeNodeRedis, FakeRedis} from '../helpers/fake-client.js';
import {rejection} from '../helpers/rejection.js';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), {code: 'ECONNREFUSED'});

beforeEach(() => {
	jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
	// The guard's retry delays at the top of their jitter range (50, 100, … ms), unless a test draws otherwise.
	jest.spyOn(Math, 'random').mockReturnValue(1);
});

afterEach(() => {
	jest.useRealTimers();
	jest.restoreAllMocks();
});

describe('fail fast (the default)', () => {
	test('ioredis: callers waiting on a try get its failure; callers between tries get it at once; a new try is waited for', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client);
		const waiting = [guard.ensureConnected(), guard.ensureConnected({timeoutMs: 10_000})];
		const cause = refused();
		client.fail(cause, {retry: true});
		const [first, second] = await Promise.all(waiting.map(async promise => rejection(promise)));
		expect(first).toMatchObject({code: 'CONNECT_FAILED', cause});
		expect(second).toBe(first);
		expect(jest.getTimerCount()).toBe(0);

		// ioredis' retry timer is pending: no waiting for it.
		const between = guard.ensureConnected({timeoutMs: 10_000});
		await expect(between).rejects.toMatchObject({code: 'CONNECT_FAILED', cause});

		client.retry();
		await flush();
		const during = guard.ensureConnected();
		expect(await settledState(during)).toBe('pending');
		client.succeed();
		await expect(during).resolves.toBe(client);
		expect(client.connectCalls).toBe(1);
	});

	test('node-redis: a failed try inside the pending connect() fails its waiters; later callers fail at once until the next try', async () => {
		const client = new FakeNodeRedis();
		client.on('error', () => undefined);
		const guard = guardedRedis(client);
		const first = guard.ensureConnected({timeoutMs: 10_000});
		expect(client.connectCalls).toBe(1);
		const cause = refused();
		client.failTry(cause, {retry: true});
		await expect(first).rejects.toMatchObject({code: 'CONNECT_FAILED', cause});
		expect(client.isOpen).toBe(true);

		// node-redis waits for its strategy's delay now; the guard knows from its events and does not wait with it.
		await expect(guard.ensureConnected({timeoutMs: 10_000})).rejects.toMatchObject({code: 'CONNECT_FAILED', cause});

		client.nextTry();
		const during = guard.ensureConnected();
		expect(await settledState(during)).toBe('pending');
		client.succeed();
		await expect(during).resolves.toBe(client);
		expect(client.connectCalls).toBe(1);
	});

	test('node-redis 6 emits `terminated` before `error`: the cause is still the real error', async () => {
		const client = new FakeNodeRedis();
		client.on('error', () => undefined);
		const pending = guardedRedis(client).ensureConnected();
		const cause = refused();
		client.failTry(cause);
		const error = await rejection(pending);
		expect(error).toMatchObject({code: 'CONNECT_FAILED', cause});
		expect(error.message).toContain('ECONNREFUSED');
		expect(error.message).toContain('fake-node.test:6380');
	});

	test('a try under way that does not finish by the deadline (a frozen server) is a TIMEOUT', async () => {
		const client = new FakeRedis();
		const pending = guardedRedis(client).ensureConnected({timeoutMs: 300});
		jest.advanceTimersByTime(300);
		const error = await rejection(pending);
		expect(error.code).toBe('TIMEOUT');
		expect(error.message).toContain('300 ms');
	});
});

describe('waitForReady', () => {
	test('waits through the client\'s own failed tries without calling connect(), then resolves', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client);
		const pending = guard.ensureConnected({waitForReady: true, timeoutMs: 10_000});
		for (let index = 0; index < 3; index++) {
			client.fail(refused(), {retry: true});
			// eslint-disable-next-line no-await-in-loop
			await flush();
			client.retry();
			// eslint-disable-next-line no-await-in-loop
			await flush();
		}

		expect(await settledState(pending)).toBe('pending');
		client.succeed();
		await expect(pending).resolves.toBe(client);
		expect(client.connectCalls).toBe(1);
	});

	test('node-redis retrying inside connect(): waits through its tries, one connect() in all', async () => {
		const client = new FakeNodeRedis();
		client.on('error', () => undefined);
		const pending = guardedRedis(client, {waitForReady: true}).ensureConnected({timeoutMs: 10_000});
		client.failTry(refused(), {retry: true});
		client.nextTry();
		client.failTry(refused(), {retry: true});
		expect(await settledState(pending)).toBe('pending');
		client.nextTry();
		client.succeed();
		await expect(pending).resolves.toBe(client);
		expect(client.connectCalls).toBe(1);
	});

	test('the deadline gives TIMEOUT with the last error as cause, named in the message', async () => {
		const client = new FakeRedis();
		const pending = guardedRedis(client).ensureConnected({waitForReady: true, timeoutMs: 1000});
		const cause = refused();
		client.fail(cause, {retry: true});
		await flush();
		jest.advanceTimersByTime(1000);
		const error = await rejection(pending);
		expect(error).toMatchObject({code: 'TIMEOUT', cause});
		expect(error.message).toContain('within 1000 ms (last error: connect ECONNREFUSED');
	});

	test('a client that will not retry: the guard connects again itself after 50, 100, 200, 400, 800, 1000, 1000 ms', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client, {waitForReady: true, timeoutMs: 60_000});
		const waiters = Array.from({length: 100}, async () => guard.ensureConnected());
		expect(client.connectCalls).toBe(1);

		for (const [index, delay] of [50, 100, 200, 400, 800, 1000, 1000].entries()) {
			client.fail(refused());
			// eslint-disable-next-line no-await-in-loop
			await flush();
			expect(client.status).toBe('end');
			jest.advanceTimersByTime(delay - 1);
			expect(client.connectCalls).toBe(index + 1);
			jest.advanceTimersByTime(1);
			// One connect() for all 100 waiters.
			expect(client.connectCalls).toBe(index + 2);
		}

		client.succeed();
		const results = await Promise.all(waiters);
		expect(results.every(result => result === client)).toBe(true);
		expect(jest.getTimerCount()).toBe(0);
	});

	test('the guard\'s delays have jitter: each is drawn evenly from its upper half, so processes do not retry in step', async () => {
		const draws = [0, 0.5, 0.25];
		jest.spyOn(Math, 'random').mockImplementation(() => draws.shift()!);
		const client = new FakeRedis();
		const waiting = guardedRedis(client, {waitForReady: true, timeoutMs: 60_000}).ensureConnected();
		// 50 ms drawn at 0 → 25 ms; 100 ms at 0.5 → 75 ms; 200 ms at 0.25 → 125 ms.
		for (const [index, delay] of [25, 75, 125].entries()) {
			client.fail(refused());
			// eslint-disable-next-line no-await-in-loop
			await flush();
			jest.advanceTimersByTime(delay - 1);
			expect(client.connectCalls).toBe(index + 1);
			jest.advanceTimersByTime(1);
			expect(client.connectCalls).toBe(index + 2);
		}

		client.succeed();
		await expect(waiting).resolves.toBe(client);
		expect(Math.random).toHaveBeenCalledTimes(3);
	});

	test('the backoff starts again at 50 ms after the client was ready', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client, {waitForReady: true});
		const first = guard.ensureConnected();
		client.fail(refused());
		await flush();
		jest.advanceTimersByTime(50);
		client.fail(refused());
		await flush();
		jest.advanceTimersByTime(100);
		client.succeed();
		await first;

		client.disconnect();
		await flush();
		const second = guard.ensureConnected();
		expect(client.connectCalls).toBe(4);
		client.fail(refused());
		await flush();
		jest.advanceTimersByTime(49);
		expect(client.connectCalls).toBe(4);
		jest.advanceTimersByTime(1);
		expect(client.connectCalls).toBe(5);
		client.succeed();
		await expect(second).resolves.toBe(client);
	});

	test('the guard stops retrying when the last waiter is gone: no timer, no connect()', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client, {waitForReady: true});
		const controller = new AbortController();
		const aborted = guard.ensureConnected({signal: controller.signal});
		const timedOut = guard.ensureConnected({timeoutMs: 30});
		client.fail(refused());
		await flush();
		expect(jest.getTimerCount()).toBe(3); // the backoff timer and the two callers' deadlines
		controller.abort();
		await expect(aborted).rejects.toMatchObject({code: 'ABORTED'});
		jest.advanceTimersByTime(30);
		await expect(timedOut).rejects.toMatchObject({code: 'TIMEOUT'});
		expect(jest.getTimerCount()).toBe(0);
		jest.advanceTimersByTime(5000);
		expect(client.connectCalls).toBe(1);
	});

	test('a fail-fast caller during the guard\'s backoff is rejected at once; wait-for-ready callers go on', async () => {
		const client = new FakeRedis();
		const guard = guardedRedis(client);
		const patient = guard.ensureConnected({waitForReady: true, timeoutMs: 10_000});
		const cause = refused();
		client.fail(cause);
		await flush();
		await expect(guard.ensureConnected({timeoutMs: 10_000})).rejects.toMatchObject({code: 'CONNECT_FAILED', cause});
		expect(client.connectCalls).toBe(1);
		jest.advanceTimersByTime(50);
		expect(client.connectCalls).toBe(2);
		client.succeed();
		await expect(patient).resolves.toBe(client);
	});

	test('node-redis with reconnectStrategy false: the guard retries with a fresh connect(), one at a time', async () => {
		const client = new FakeNodeRedis();
		client.on('error', () => undefined);
		const guard = guardedRedis(client, {waitForReady: true, timeoutMs: 10_000});
		const waiters = [guard.ensureConnected(), guard.ensureConnected()];
		client.failTry(refused());
		await flush();
		expect(client.isOpen).toBe(false);
		jest.advanceTimersByTime(50);
		expect(client.connectCalls).toBe(2);
		client.succeed();
		await expect(Promise.all(waiters)).resolves.toEqual([client, client]);
	});

	test('the guard default and a per-call override', async () => {
		const client = new FakeRedis();
		client.status = 'reconnecting';
		const patientGuard = guardedRedis(client, {waitForReady: true});
		await expect(patientGuard.ensureConnected({waitForReady: false})).rejects.toMatchObject({code: 'CONNECT_FAILED'});
		const patient = patientGuard.ensureConnected();
		const impatient = guardedRedis(client).ensureConnected();
		await expect(impatient).rejects.toMatchObject({code: 'CONNECT_FAILED'});
		client.retry();
		await flush();
		client.succeed();
		await expect(patient).resolves.toBe(client);
	});
});

describe('listeners while the client is failing', () => {
	test('node-redis: one set stays while it retries inside connect() (to tell a try from the wait), and goes once it is ready', async () => {
		const client = new FakeNodeRedis();
		client.on('error', () => undefined);
		const before = client.totalListeners();
		const guard = guardedRedis(client);
		const pending = guard.ensureConnected();
		client.failTry(refused(), {retry: true});
		await rejection(pending);
		const during = client.totalListeners() - before;
		expect(during).toBeGreaterThan(0);
		expect(during).toBeLessThanOrEqual(8);
		client.nextTry();
		client.succeed();
		await flush();
		expect(client.totalListeners()).toBe(before);
	});

	test('node-redis: close() removes them while the client is retrying', async () => {
		const client = new FakeNodeRedis();
		client.on('error', () => undefined);
		const before = client.totalListeners();
		const guard = guardedRedis(client);
		const pending = guard.ensureConnected();
		client.failTry(refused(), {retry: true});
		await rejection(pending);
		expect(client.totalListeners()).toBeGreaterThan(before);
		await guard.close();
		expect(client.totalListeners()).toBe(before);
	});

	test('ioredis: they stay while it retries by itself, so a later caller gets its last error; they go once it is ready', async () => {
		const client = new FakeRedis();
		const before = client.totalListeners();
		const guard = guardedRedis(client);
		const pending = guard.ensureConnected();
		const cause = refused();
		client.fail(cause, {retry: true});
		await rejection(pending);
		await flush();
		expect(client.status).toBe('reconnecting');
		expect(client.totalListeners()).toBeGreaterThan(before);
		await expect(guard.ensureConnected()).rejects.toMatchObject({code: 'CONNECT_FAILED', cause});
		client.retry();
		await flush();
		client.succeed();
		await flush();
		expect(client.totalListeners()).toBe(before);
	});
});

describe('failures retrying cannot fix end every wait at once, in both modes', () => {
	// The errors as the clients report them (measured: ioredis 5/6 and node-redis 5/6 against redis-server 7 with
	// `requirepass`, and against a TLS server with an unknown CA).
	const wrongPassword = () => Object.assign(new Error('WRONGPASS invalid username-password pair or user is disabled.'), {name: 'ReplyError'});
	const noPassword = () => new Error('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time');
	const unknownCa = () => Object.assign(new Error('self-signed certificate in certificate chain'), {code: 'SELF_SIGNED_CERT_IN_CHAIN'});

	test.each([
		['WRONGPASS', wrongPassword],
		['NOAUTH', noPassword],
		['a rejected certificate', unknownCa],
	])('ioredis retrying after %s: wait-for-ready and fail-fast callers get CONNECT_FAILED at once, not at the deadline', async (_label, makeError) => {
		const client = new FakeRedis();
		client.on('error', () => undefined);
		const guard = guardedRedis(client, {timeoutMs: 30_000});
		const startedAt = jest.now();
		const waiting = guard.ensureConnected({waitForReady: true});
		const failingFast = guard.ensureConnected();
		const cause = makeError();
		client.fail(cause, {retry: true});
		const error = await rejection(waiting);
		expect(error).toMatchObject({code: 'CONNECT_FAILED', cause});
		expect(error.message).toContain(cause.message);
		await expect(failingFast).rejects.toBe(error);

		// While the client goes on retrying with the same credentials, new callers of both modes get it at once.
		await expect(guard.ensureConnected({waitForReady: true})).rejects.toBe(error);
		client.retry();
		await flush();
		await expect(guard.ensureConnected({waitForReady: true})).rejects.toBe(error);
		expect(jest.now()).toBe(startedAt); // all of it without the clock moving
		expect(client.connectCalls).toBe(1);

		// The server's password was changed to the client's: the next try works, and so does everyone after it.
		client.succeed();
		await flush();
		await expect(guard.ensureConnected({waitForReady: true})).resolves.toBe(client);
	});

	test('node-redis that will not retry: CONNECT_FAILED at once, and the guard does not retry WRONGPASS for wait-for-ready callers', async () => {
		const client = new FakeNodeRedis();
		client.on('error', () => undefined);
		const guard = guardedRedis(client, {waitForReady: true, timeoutMs: 30_000});
		const waiting = guard.ensureConnected();
		const cause = wrongPassword();
		client.failTry(cause);
		await expect(waiting).rejects.toMatchObject({code: 'CONNECT_FAILED', cause});
		jest.advanceTimersByTime(30_000);
		expect(client.connectCalls).toBe(1);
		expect(jest.getTimerCount()).toBe(0);
	});

	test('a transient failure (ECONNREFUSED) still keeps wait-for-ready callers waiting', async () => {
		const client = new FakeRedis();
		client.on('error', () => undefined);
		const waiting = guardedRedis(client, {waitForReady: true}).ensureConnected();
		client.fail(refused(), {retry: true});
		await flush();
		expect(await settledState(waiting)).toBe('pending');
		client.retry();
		client.succeed();
		await expect(waiting).resolves.toBe(client);
	});
});
