/*
Every public function and option, given the wrong type, range or shape: a clear TypeError/RangeError naming the
argument, and nothing connected. (The example stores' options are covered in __tests__/examples/store-options.test.ts.)
*/
import {backoffWithJitter, guardedRedis, singleFlight} from '../../src/index.js';
import {FakeRedis} from '../helpers/fake-client.js';
import {errorOf} from '../helpers/rejection.js';

type Case = [
	label: string,
	call: (client: FakeRedis) => unknown,
	error: typeof TypeError | typeof RangeError,
	names: RegExp,
];

const throwing: Case[] = [
	['singleFlight(undefined)', () => singleFlight(undefined as never), TypeError, /^Expected `fn` to be a function, got `undefined`$/],
	['singleFlight(null)', () => singleFlight(null as never), TypeError, /^Expected `fn` to be a function, got `null`$/],
	['singleFlight("fn")', () => singleFlight('fn' as never), TypeError, /^Expected `fn` to be a function, got `string`$/],
	['singleFlight({})', () => singleFlight({} as never), TypeError, /^Expected `fn` to be a function, got `object`$/],
	['singleFlight(42)', () => singleFlight(42 as never), TypeError, /`fn`/],
	['singleFlight(fn, 5)', () => singleFlight(() => 1, 5 as never), TypeError, /`options` to be an object/],
	['singleFlight(fn, null)', () => singleFlight(() => 1, null as never), TypeError, /`options`/],
	['singleFlight(fn, {key: "id"})', () => singleFlight(() => 1, {key: 'id' as never}), TypeError, /`key`/],
	['guardedRedis(undefined)', () => guardedRedis(undefined as never), TypeError, /Expected `client` to be a Redis client/],
	['guardedRedis(null)', () => guardedRedis(null as never), TypeError, /Expected `client` to be a Redis client/],
	['guardedRedis(42)', () => guardedRedis(42 as never), TypeError, /Expected `client` to be a Redis client/],
	['guardedRedis({})', () => guardedRedis({} as never), TypeError, /Expected `client` to be a Redis client/],
	['guardedRedis("redis://localhost")', () => guardedRedis('redis://localhost' as never), TypeError, /`client`/],
	['guardedRedis({connect() {}})', () => guardedRedis({connect() {}} as never), TypeError, /`client`/],
	['guardedRedis(client, "fast")', client => guardedRedis(client, 'fast' as never), TypeError, /`options`/],
	['guardedRedis(client, [])', client => guardedRedis(client, [] as never), TypeError, /`options`/],
	['singleFlight(fn, [])', () => singleFlight(() => 1, [] as never), TypeError, /`options`/],
	['guardedRedis(client, {timeoutMs: -1})', client => guardedRedis(client, {timeoutMs: -1}), RangeError, /`timeoutMs`/],
	['guardedRedis(client, {timeoutMs: NaN})', client => guardedRedis(client, {timeoutMs: Number.NaN}), RangeError, /`timeoutMs`/],
	['guardedRedis(client, {timeoutMs: null})', client => guardedRedis(client, {timeoutMs: null as never}), TypeError, /`timeoutMs`/],
	['guardedRedis(client, {timeoutMs: "5s"})', client => guardedRedis(client, {timeoutMs: '5s' as never}), TypeError, /`timeoutMs`/],
	['guardedRedis(client, {waitForReady: "yes"})', client => guardedRedis(client, {waitForReady: 'yes' as never}), TypeError, /`waitForReady`/],
	['guardedRedis(client, {waitForReady: 1})', client => guardedRedis(client, {waitForReady: 1 as never}), TypeError, /`waitForReady`/],
	// A misspelt option would otherwise be ignored, and its default (5 s) used.
	['guardedRedis(client, {timeout: 1000})', client => guardedRedis(client, {timeout: 1000} as never), TypeError, /^Unknown option `timeout`: did you mean `timeoutMs`\?$/],
	['guardedRedis(client, {waitforready: true})', client => guardedRedis(client, {waitforready: true} as never), TypeError, /^Unknown option `waitforready`: did you mean `waitForReady`\?$/],
	['guardedRedis(client, {retries: 3})', client => guardedRedis(client, {retries: 3} as never), TypeError, /^Unknown option `retries`: the options are `timeoutMs`, `waitForReady`, `deadConnectionMs`, `heartbeatMs`$/],
	['singleFlight(fn, {keys: fn})', () => singleFlight(() => 1, {keys: () => 1} as never), TypeError, /^Unknown option `keys`: did you mean `key`\?$/],
	['backoffWithJitter({maxDelay: 100})', () => backoffWithJitter({maxDelay: 100} as never), TypeError, /^Unknown option `maxDelay`: did you mean `maxDelayMs`\?$/],
	['backoffWithJitter({firstDelayMs: 0})', () => backoffWithJitter({firstDelayMs: 0}), RangeError, /`firstDelayMs`/],
	['backoffWithJitter({maxDelayMs: "1s"})', () => backoffWithJitter({maxDelayMs: '1s' as never}), TypeError, /`maxDelayMs`/],
	['backoffWithJitter({firstDelayMs: 500, maxDelayMs: 100})', () => backoffWithJitter({firstDelayMs: 500, maxDelayMs: 100}), RangeError, /`maxDelayMs` \(100\) to be at least `firstDelayMs` \(500\)/],
	['backoffWithJitter(5)', () => backoffWithJitter(5 as never), TypeError, /`options`/],
];

const rejecting: Case[] = [
	['ensureConnected(null)', async client => guardedRedis(client).ensureConnected(null as never), TypeError, /`options`/],
	['ensureConnected([])', async client => guardedRedis(client).ensureConnected([] as never), TypeError, /`options`/],
	['ensureConnected({timeoutMs: -10})', async client => guardedRedis(client).ensureConnected({timeoutMs: -10}), RangeError, /`timeoutMs`/],
	['ensureConnected({timeoutMs: NaN})', async client => guardedRedis(client).ensureConnected({timeoutMs: Number.NaN}), RangeError, /`timeoutMs`/],
	['ensureConnected({timeoutMs: "1000"})', async client => guardedRedis(client).ensureConnected({timeoutMs: '1000' as never}), TypeError, /`timeoutMs`/],
	['ensureConnected("fast")', async client => guardedRedis(client).ensureConnected('fast' as never), TypeError, /`options`/],
	['ensureConnected({signal: "stop"})', async client => guardedRedis(client).ensureConnected({signal: 'stop' as never}), TypeError, /`signal`/],
	['ensureConnected({signal: {}})', async client => guardedRedis(client).ensureConnected({signal: {} as never}), TypeError, /`signal`/],
	['ensureConnected({waitForReady: "true"})', async client => guardedRedis(client).ensureConnected({waitForReady: 'true' as never}), TypeError, /`waitForReady`/],
	['ensureConnected({waitForReady: null})', async client => guardedRedis(client).ensureConnected({waitForReady: null as never}), TypeError, /`waitForReady`/],
	['ensureConnected({signal: true})', async client => guardedRedis(client).ensureConnected({signal: true as never}), TypeError, /`signal`/],
	['ensureConnected({timeOutMs: 1})', async client => guardedRedis(client).ensureConnected({timeOutMs: 1} as never), TypeError, /^Unknown option `timeOutMs`: did you mean `timeoutMs`\?$/],
	['ensureConnected({abortSignal: s})', async client => guardedRedis(client).ensureConnected({abortSignal: AbortSignal.abort()} as never), TypeError, /^Unknown option `abortSignal`: the options are `timeoutMs`, `signal`, `waitForReady`$/],
	['run(undefined)', async client => guardedRedis(client).run(undefined as never), TypeError, /^Expected `fn` to be a function, got `undefined`$/],
	['run("GET k")', async client => guardedRedis(client).run('GET k' as never), TypeError, /^Expected `fn` to be a function, got `string`$/],
	['run(fn, {timeoutMs: -1})', async client => guardedRedis(client).run(() => 1, {timeoutMs: -1}), RangeError, /`timeoutMs`/],
	['run(fn, {timeout: 100})', async client => guardedRedis(client).run(() => 1, {timeout: 100} as never), TypeError, /^Unknown option `timeout`: did you mean `timeoutMs`\?$/],
	['run(fn, {signal: {}})', async client => guardedRedis(client).run(() => 1, {signal: {} as never}), TypeError, /`signal`/],
	['run(fn, "fast")', async client => guardedRedis(client).run(() => 1, 'fast' as never), TypeError, /`options`/],
];

describe('bad input', () => {
	test.each(throwing)('%s throws, naming the argument, and connects nothing', (_label, call, ErrorType, names) => {
		const client = new FakeRedis();
		let thrown: unknown;
		try {
			call(client);
		} catch (error) {
			thrown = error;
		}

		expect(thrown).toBeInstanceOf(ErrorType);
		expect((thrown as Error).message).toMatch(names);
		expect(client.connectCalls).toBe(0);
	});

	test.each(rejecting)('%s rejects (never throws), naming the option, and connects nothing', async (_label, call, ErrorType, names) => {
		const client = new FakeRedis();
		let result: unknown;
		expect(() => {
			result = call(client);
		}).not.toThrow();
		const error = await errorOf(result as Promise<unknown>);
		expect(error).toBeInstanceOf(ErrorType);
		expect((error as Error).message).toMatch(names);
		expect(client.connectCalls).toBe(0);
	});

	test('bad options are rejected on a ready client too (no silent hot path)', async () => {
		const client = new FakeRedis();
		client.status = 'ready';
		await expect(guardedRedis(client).ensureConnected({timeoutMs: -1})).rejects.toThrow(RangeError);
	});

	test.each([0, Number.POSITIVE_INFINITY, 2 ** 40])('timeoutMs %p is valid', async timeoutMs => {
		const client = new FakeRedis();
		client.status = 'ready';
		await expect(guardedRedis(client, {timeoutMs}).ensureConnected({timeoutMs})).resolves.toBe(client);
	});

	test('a timeoutMs beyond what setTimeout can hold waits without a timer (setTimeout would fire it after 1 ms)', async () => {
		jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
		try {
			const client = new FakeRedis();
			const pending = guardedRedis(client).ensureConnected({timeoutMs: 2 ** 40});
			expect(jest.getTimerCount()).toBe(0);
			client.succeed();
			await expect(pending).resolves.toBe(client);
		} finally {
			jest.useRealTimers();
		}
	});
});
