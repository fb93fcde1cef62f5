import type {ClientRateLimitInfo} from 'express-rate-limit';
import {
	FallbackRateLimitStore, RateLimitStoreUnavailableError, type RateLimitStore,
} from '../../examples/rate-limit/fallback-store.js';
import {deferred, type Deferred} from '../helpers/deferred.js';

const falling = '[rate-limit] Redis store failed. Falling back to Prisma store for rate limiting.';
const recovered = '[rate-limit] Redis store recovered. Back to Redis store for rate limiting.';

/** A store whose health the test flips; counts every call. */
class ScriptedStore implements RateLimitStore {
	healthy = true;
	calls = 0;
	gate: Deferred<void> | undefined;
	readonly hits = new Map<string, number>();
	constructor(readonly prefix: string) {}

	// What the fallback store was told the primary last answered, per call.
	readonly known: Array<ClientRateLimitInfo | undefined> = [];

	async increment(key: string, known?: ClientRateLimitInfo): Promise<ClientRateLimitInfo> {
		this.calls++;
		this.known.push(known);
		await this.gate?.promise;
		if (!this.healthy) {
			throw new Error(`${this.prefix} is down`);
		}

		const totalHits = (this.hits.get(key) ?? 0) + 1;
		this.hits.set(key, totalHits);
		return {totalHits, resetTime: new Date(60_000)};
	}

	async decrement(key: string): Promise<void> {
		this.check();
		this.hits.set(key, Math.max(0, (this.hits.get(key) ?? 0) - 1));
	}

	async resetKey(key: string): Promise<void> {
		this.check();
		this.hits.delete(key);
	}

	async resetAll(): Promise<void> {
		this.check();
		this.hits.clear();
	}

	async get(key: string): Promise<ClientRateLimitInfo | undefined> {
		this.check();
		const totalHits = this.hits.get(key);
		return totalHits === undefined ? undefined : {totalHits, resetTime: new Date(60_000)};
	}

	private check() {
		if (!this.healthy) {
			throw new Error(`${this.prefix} is down`);
		}
	}
}

function setup(options: {cooldownMs?: number} = {}) {
	const primary = new ScriptedStore('redis');
	const fallback = new ScriptedStore('prisma');
	const logger = {warn: jest.fn(), info: jest.fn()};
	let now = 0;
	const store = new FallbackRateLimitStore(primary, fallback, {cooldownMs: 1000, logger, now: () => now, ...options});
	return {
		primary, fallback, logger, store,
		advance(ms: number) {
			now += ms;
		},
	};
}

describe('FallbackRateLimitStore', () => {
	test('uses the primary while it is healthy', async () => {
		const {primary, fallback, store, logger} = setup();
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({totalHits: 1, decidedBy: 'primary'});
		expect(primary.calls).toBe(1);
		expect(fallback.calls).toBe(0);
		expect(logger.warn).not.toHaveBeenCalled();
	});

	test('on a primary failure it answers from the fallback and logs one line with the cause, not one per request', async () => {
		const {primary, fallback, store, logger} = setup();
		primary.healthy = false;
		const answers = await Promise.all(Array.from({length: 50}, async () => store.incrementDetailed('a')));
		expect(answers.every(answer => answer.decidedBy === 'fallback')).toBe(true);
		expect(fallback.hits.get('a')).toBe(50);
		await store.increment('a');
		expect(logger.warn).toHaveBeenCalledTimes(1);
		expect(logger.warn).toHaveBeenCalledWith(falling, expect.objectContaining({message: 'redis is down'}));
		expect(store.circuitOpen).toBe(true);
	});

	test('while open it skips the primary entirely', async () => {
		const {primary, store} = setup();
		primary.healthy = false;
		await store.increment('a');
		const callsWhenOpened = primary.calls;
		for (let index = 0; index < 10; index++) {
			// eslint-disable-next-line no-await-in-loop
			await store.increment('a');
		}

		expect(primary.calls).toBe(callsWhenOpened);
	});

	test('after the cooldown one request probes the primary; success closes the circuit and logs the recovery once', async () => {
		const {primary, store, logger, advance} = setup();
		primary.healthy = false;
		await store.increment('a');
		primary.healthy = true;
		advance(999);
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'fallback'});
		advance(1);
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'primary'});
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'primary'});
		expect(logger.info).toHaveBeenCalledTimes(1);
		expect(logger.info).toHaveBeenCalledWith(recovered);
		expect(store.circuitOpen).toBe(false);
	});

	test('emits one `circuit` event per transition (with the cause when it opens) and one `decision` per counted hit', async () => {
		const {primary, store, advance} = setup();
		const circuit: unknown[] = [];
		const decisions: string[] = [];
		store.on('circuit', event => circuit.push(event));
		store.on('decision', decidedBy => decisions.push(decidedBy));

		await store.increment('a');
		primary.healthy = false;
		await store.incrementDetailed('a');
		await store.consume('a');
		advance(1000);
		await store.increment('a'); // failed probe: same outage, no event
		primary.healthy = true;
		advance(1000);
		await store.increment('a');
		await store.decrement('a'); // not a hit

		expect(circuit).toEqual([{state: 'open', cause: expect.objectContaining({message: 'redis is down'})}, {state: 'closed'}]);
		expect(decisions).toEqual(['primary', 'fallback', 'fallback', 'fallback', 'primary']);
	});

	test('a failed probe keeps the circuit open for another cooldown, without another log line', async () => {
		const {primary, store, logger, advance} = setup();
		primary.healthy = false;
		await store.increment('a');
		advance(1000);
		const callsBefore = primary.calls;
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'fallback'});
		expect(primary.calls).toBe(callsBefore + 1);
		await store.increment('a');
		expect(primary.calls).toBe(callsBefore + 1);
		expect(logger.warn).toHaveBeenCalledTimes(1);
		expect(logger.info).not.toHaveBeenCalled();
	});

	test('only one probe at a time: concurrent requests during a probe use the fallback', async () => {
		const {primary, store, advance} = setup();
		primary.healthy = false;
		await store.increment('a');
		primary.healthy = true;
		advance(1000);
		primary.gate = deferred();
		const probe = store.incrementDetailed('a');
		const others = await Promise.all([store.incrementDetailed('b'), store.incrementDetailed('c')]);
		expect(others.map(other => other.decidedBy)).toEqual(['fallback', 'fallback']);
		primary.gate.resolve();
		await expect(probe).resolves.toMatchObject({decidedBy: 'primary'});
	});

	test('when both stores fail the request gets RateLimitStoreUnavailableError with both causes', async () => {
		const {primary, fallback, store} = setup();
		primary.healthy = false;
		fallback.healthy = false;
		const error = await store.increment('a').catch((error_: unknown) => error_);
		expect(error).toBeInstanceOf(RateLimitStoreUnavailableError);
		expect((error as Error).message).toContain('both failed');
		const {cause} = error as {cause: AggregateError};
		expect(cause.errors.map((error_: Error) => error_.message)).toEqual(['redis is down', 'prisma is down']);
	});

	test('decrement goes to the store in use; resetKey and resetAll reset both stores (a count left in either would come back)', async () => {
		const {primary, fallback, store} = setup();
		await store.increment('a');
		await store.increment('a');
		await store.decrement('a');
		expect(primary.hits.get('a')).toBe(1);
		fallback.hits.set('a', 3);
		await store.resetKey('a');
		expect(primary.hits.has('a')).toBe(false);
		expect(fallback.hits.has('a')).toBe(false);

		await store.increment('b');
		fallback.hits.set('c', 1);
		await store.resetAll();
		expect(primary.hits.size + fallback.hits.size).toBe(0);

		// A store that is down: the other is reset still, and the call says it failed.
		await store.increment('d');
		primary.healthy = false;
		await expect(store.resetKey('d')).rejects.toThrow('redis is down');
		primary.healthy = true;
		expect(primary.hits.get('d')).toBe(1);
	});

	test('get() reads the count from the store in use, without adding a hit; a failing primary opens the circuit', async () => {
		const {primary, fallback, store, logger} = setup();
		await store.increment('a');
		await expect(store.get('a')).resolves.toEqual({totalHits: 1, resetTime: new Date(60_000)});
		await expect(store.get('b')).resolves.toBeUndefined();
		expect(primary.calls).toBe(1);
		primary.healthy = false;
		fallback.hits.set('a', 7);
		await expect(store.get('a')).resolves.toMatchObject({totalHits: 7});
		expect(store.circuitOpen).toBe(true);
		expect(logger.warn).toHaveBeenCalledTimes(1);
	});

	test('init() adopts the middleware\'s numeric limit for consume(), as each store does for itself', async () => {
		const {store} = setup();
		store.init({windowMs: 60_000, limit: 2} as never);
		const decisions = [];
		for (let index = 0; index < 3; index++) {
			// eslint-disable-next-line no-await-in-loop
			decisions.push(await store.consume('a'));
		}

		expect(decisions.map(decision => decision.allowed)).toEqual([true, true, false]);
		store.init({windowMs: 60_000, limit: () => 5} as never);
		expect(store.limit).toBe(2);
	});

	test('its default clock is read at each call: jest\'s fake timers installed after construction move the cooldown', async () => {
		const primary = new ScriptedStore('redis');
		const store = new FallbackRateLimitStore(primary, new ScriptedStore('prisma'), {cooldownMs: 1000, logger: {warn() {}, info() {}}});
		jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
		try {
			primary.healthy = false;
			await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'fallback'});
			primary.healthy = true;
			jest.advanceTimersByTime(999);
			await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'fallback'});
			jest.advanceTimersByTime(1);
			await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'primary'});
		} finally {
			jest.useRealTimers();
		}
	});

	test('by default it logs to the console one line per transition: the cause\'s code and message, no stack', async () => {
		const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
		const info = jest.spyOn(console, 'info').mockImplementation(() => undefined);
		try {
			const primary = new ScriptedStore('redis');
			const store = new FallbackRateLimitStore(primary, new ScriptedStore('prisma'), {cooldownMs: 0});
			const cause = Object.assign(new Error('Could not connect to Redis at 127.0.0.1:6379: connect ECONNREFUSED'), {code: 'CONNECT_FAILED'});
			jest.spyOn(primary, 'increment').mockRejectedValueOnce(cause);
			await store.increment('a');
			await store.increment('a');
			expect(warn.mock.calls).toEqual([[
				`${falling} (CONNECT_FAILED: Could not connect to Redis at 127.0.0.1:6379: connect ECONNREFUSED)`,
			]]);
			expect(info.mock.calls).toEqual([[recovered]]);
		} finally {
			warn.mockRestore();
			info.mockRestore();
		}
	});

	test('consume() decides against `limit`', async () => {
		const primary = new ScriptedStore('redis');
		const store = new FallbackRateLimitStore(primary, new ScriptedStore('prisma'), {limit: 2, logger: {warn() {}, info() {}}});
		await expect(store.consume('a')).resolves.toMatchObject({allowed: true, remaining: 1, decidedBy: 'primary'});
		await store.consume('a');
		await expect(store.consume('a')).resolves.toMatchObject({allowed: false, remaining: 0, totalHits: 3});
	});

	test('during an outage the fallback is given the primary\'s last answer for the key, to count on from', async () => {
		const {primary, fallback, store} = setup();
		await store.increment('a');
		await store.increment('a');
		primary.healthy = false;
		await store.increment('a');
		await store.increment('b');
		expect(fallback.known).toEqual([{totalHits: 2, resetTime: new Date(60_000)}, undefined]);
	});

	test('trackedKeys bounds what it remembers: the oldest key goes first; 0 remembers nothing', async () => {
		const knownToFallback = async (trackedKeys: number) => {
			const primary = new ScriptedStore('redis');
			const fallback = new ScriptedStore('prisma');
			const store = new FallbackRateLimitStore(primary, fallback, {trackedKeys, logger: {warn() {}, info() {}}});
			for (const key of ['a', 'b', 'c']) {
				// eslint-disable-next-line no-await-in-loop
				await store.increment(key);
			}

			primary.healthy = false;
			await store.increment('a');
			await store.increment('c');
			return fallback.known;
		};

		await expect(knownToFallback(2)).resolves.toEqual([undefined, {totalHits: 1, resetTime: new Date(60_000)}]);
		await expect(knownToFallback(0)).resolves.toEqual([undefined, undefined]);
	});

	test('after a lost connection, the primary saying it is ready again ends the outage on the next call; without that sign, the cooldown does', async () => {
		const {primary, store, advance} = setup();
		const readiness = primary as ScriptedStore & {ready?: boolean};
		readiness.ready = false;
		primary.healthy = false;
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'fallback'});
		primary.healthy = true;
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'fallback'});
		readiness.ready = true;
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'primary'});

		// A server that stops answering while its connection stays up (ready all along): only the cooldown.
		primary.healthy = false;
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'fallback'});
		primary.healthy = true;
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'fallback'});
		advance(1000);
		await expect(store.incrementDetailed('a')).resolves.toMatchObject({decidedBy: 'primary'});
	});

	test('shutdown() shuts both stores down that can be, and waits for them', async () => {
		const {primary, fallback, store} = setup();
		const sweep = deferred<void>();
		const fallbackShutdown = jest.fn(async () => sweep.promise);
		Object.assign(fallback, {shutdown: fallbackShutdown});
		let closed = false;
		const closing = store.shutdown().then(() => {
			closed = true;
		});
		expect(fallbackShutdown).toHaveBeenCalledTimes(1);
		expect('shutdown' in primary).toBe(false);
		await Promise.resolve();
		expect(closed).toBe(false);
		sweep.resolve();
		await closing;
		expect(closed).toBe(true);
	});

	test('a bad key is rejected before either store is asked', async () => {
		const {primary, fallback, store, logger} = setup();
		await expect(store.increment('')).rejects.toThrow(/`key`/);
		expect(primary.calls + fallback.calls).toBe(0);
		expect(logger.warn).not.toHaveBeenCalled();
	});

	test.each([
		[{cooldownMs: -1}, RangeError, /`cooldownMs`/],
		[{cooldownMs: Number.NaN}, RangeError, /`cooldownMs`/],
		[{limit: 0}, RangeError, /`limit`/],
		[{limit: 1.5}, RangeError, /`limit`/],
		[{trackedKeys: -1}, RangeError, /`trackedKeys`/],
		[{trackedKeys: 1.5}, RangeError, /`trackedKeys`/],
		[{trackedKeys: '10'}, RangeError, /`trackedKeys`/],
	])('bad options %p throw %p naming the option', (options, ErrorType, message) => {
		const create = () => new FallbackRateLimitStore(new ScriptedStore('a'), new ScriptedStore('b'), options as never);
		expect(create).toThrow(ErrorType);
		expect(create).toThrow(message);
	});

	test('a store without increment() is rejected, naming which', () => {
		expect(() => new FallbackRateLimitStore({} as never, new ScriptedStore('b'))).toThrow(/`primary`/);
		expect(() => new FallbackRateLimitStore(new ScriptedStore('a'), null as never)).toThrow(/`fallback`/);
	});
});
