/*
express-rate-limit's own `MemoryStore` as the reference: every member of its `Store` interface driven with the same
calls on MemoryStore and on one of our stores, in lockstep, and the observable results compared (counts, which window a
`resetTime` belongs to, and — under fake timers — the exact `resetTime`). Where our stores differ on purpose
(examples/README.md: "The store's lifecycle…", "Keys over their limit…"), separate tests say so by name.
*/
import {MemoryStore, rateLimit, type ClientRateLimitInfo, type Options, type Store} from 'express-rate-limit';

/** Every member of express-rate-limit's `Store`, the optional ones included: the suite calls all of them. */
export type ParityStore = Required<Pick<Store, 'init' | 'get' | 'increment' | 'decrement' | 'resetKey' | 'resetAll' | 'shutdown'>>
	& Pick<Store, 'localKeys' | 'prefix'>;

/** One of our stores: its prefix is a string and its keys are not local (examples/README.md). */
export type OurStore = ParityStore & {readonly prefix: string; readonly localKeys: boolean};

export type StoreSettings = {
	/** Prepended to every key: a fresh one unless given (the same prefix is another process's view of the counts). */
	prefix?: string;
	/** The store's own option; on by default. */
	inMemoryBlock?: boolean;
	/** The store's own limit, before `init()`. */
	limit?: number;
};

export type ParityTarget = {
	name: string;
	/**
	`fake`: each test runs under jest's modern fake timers (the stores are created after they are installed, and the
	clock is moved to the exact millisecond); `real`: real time, windows of `windowMs` waited out to the `resetTime` the
	stores reported.
	*/
	time: 'fake' | 'real';
	/** The middleware's window for the tests that let a window end. */
	windowMs: number;
	setup(): Promise<void>;
	teardown(): Promise<void>;
	/** A store, not yet `init()`ed, with a fresh prefix (or `settings.prefix`). */
	create(settings?: StoreSettings): OurStore;
};

/** The options object express-rate-limit hands to `store.init()`: from `rateLimit()` itself, not built by hand. */
export function middlewareOptions(windowMs: number, limit: Options['limit'] = 5): Options {
	let options: Options | undefined;
	rateLimit({
		windowMs,
		limit,
		validate: false,
		store: {
			init(given) {
				options = given;
			},
			increment: () => ({totalHits: 1, resetTime: undefined}),
			decrement() {},
			resetKey() {},
		},
	});
	return options!;
}

/**
What a caller can observe of one call's result: `undefined`, or the count and which window (`'window 1'`, `'window
2'`… in the order this store reported them) the `resetTime` is in; under fake timers also the exact `resetTime`, in ms
from the start of the test.
*/
export type Observation = undefined | {totalHits: number; resetTime: string; resetAt?: number} | {other: unknown};

/** Tells one store's windows apart by their `resetTime`, and checks that a window is new when first seen. */
class Windows {
	private readonly ends: number[] = [];
	last: number | undefined;

	constructor(private readonly store: string, private readonly fake: boolean, private readonly origin: number) {}

	/**
	`windowMs`: the length of a window this call starts; `shortestWindowMs`: of the windows this store has had, which
	tells them apart under real time.
	*/
	observe(value: unknown, before: number, after: number, windowMs: number, shortestWindowMs: number): Observation {
		if (value === undefined) {
			return undefined;
		}

		if (value === null || typeof value !== 'object' || !('totalHits' in value)) {
			return {other: value};
		}

		const {totalHits, resetTime} = value as ClientRateLimitInfo;
		expect(Number.isInteger(totalHits)).toBe(true);
		expect(resetTime).toBeInstanceOf(Date);
		const at = resetTime!.getTime();
		expect(Number.isFinite(at)).toBe(true);
		// Real time: the same window's resetTime moves by the round trip (Redis answers the time left, the client adds it
		// to its own clock); one key's windows are at least the shortest window apart. Half the current window was too
		// much once a second init() doubled it: a new window of 2W then ends about W after one of W started a moment
		// before, right at the edge, and the round trip decided which side (seen in CI on Node 24).
		const tolerance = this.fake ? 0 : shortestWindowMs / 2;
		let index = this.ends.findIndex(end => Math.abs(end - at) <= tolerance);
		if (index === -1) {
			// A window first seen was started by this call: it ends windowMs after the call (exactly, under fake timers).
			const startedByThisCall = at >= before + windowMs && at <= after + windowMs;
			expect({store: this.store, newWindow: {endsAt: at, startedByThisCall}})
				.toEqual({store: this.store, newWindow: {endsAt: at, startedByThisCall: true}});
			index = this.ends.push(at) - 1;
		}

		this.last = at;
		return {totalHits, resetTime: `window ${index + 1}`, ...(this.fake ? {resetAt: at - this.origin} : {})};
	}
}

/** Stores this module created, shut down after each test (their timers, MemoryStore's interval). */
const opened = new Set<ParityStore>();

export async function shutdownOpened(): Promise<void> {
	const stores = [...opened];
	opened.clear();
	await Promise.all(stores.map(async store => store.shutdown()));
}

/** A store to shut down after the test. */
export function opening<T extends ParityStore>(store: T): T {
	opened.add(store);
	return store;
}

/**
express-rate-limit's MemoryStore and one of ours, driven with the same calls. Every `both()` makes the call on
MemoryStore, then on ours, and expects the same observation; it returns MemoryStore's, for the test to state what that
is.
*/
export class Lockstep {
	readonly memory: MemoryStore & ParityStore = opening(new MemoryStore());
	readonly fake: boolean;
	private readonly memoryWindows: Windows;
	private readonly ourWindows: Windows;
	private windowMs = 0;
	private shortestWindowMs = Number.POSITIVE_INFINITY;

	constructor(readonly ours: OurStore, time: ParityTarget['time']) {
		opening(ours);
		this.fake = time === 'fake';
		const origin = Date.now();
		this.memoryWindows = new Windows('MemoryStore', this.fake, origin);
		this.ourWindows = new Windows('ours', this.fake, origin);
	}

	/** `init()` on both, with the options express-rate-limit would pass for this `windowMs` and `limit`. */
	async init(windowMs: number, limit: Options['limit'] = 5): Promise<void> {
		const options = middlewareOptions(windowMs, limit);
		this.windowMs = windowMs;
		this.shortestWindowMs = Math.min(this.shortestWindowMs, windowMs);
		await this.memory.init(options);
		await this.ours.init(options);
	}

	async both(step: string, call: (store: ParityStore) => unknown): Promise<Observation> {
		const memory = await this.observe(this.memory, this.memoryWindows, call);
		const ours = await this.observe(this.ours, this.ourWindows, call);
		expect({step, result: ours}).toEqual({step, result: memory});
		return memory;
	}

	/** Move the clock (fake timers: exactly, running the timers due on the way). */
	advance(ms: number): void {
		if (!this.fake) {
			throw new Error('advance() needs fake timers: with real time, wait for a resetTime instead');
		}

		jest.advanceTimersByTime(ms);
	}

	/** Fake timers: to the last millisecond of the window both stores reported last. */
	toLastMillisecond(): void {
		this.advance(this.lastResetTime() - 1 - Date.now());
	}

	/** To the `resetTime` both stores reported last (fake: exactly that millisecond; real: waits until it has come). */
	async untilWindowEnds(): Promise<void> {
		const end = this.lastResetTime();
		if (this.fake) {
			this.advance(end - Date.now());
			return;
		}

		while (Date.now() < end) {
			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, end - Date.now());
			});
		}
	}

	private lastResetTime(): number {
		const ends = [this.memoryWindows.last, this.ourWindows.last];
		if (ends.includes(undefined)) {
			throw new Error('No resetTime seen yet');
		}

		return Math.max(...ends as number[]);
	}

	private async observe(
		store: ParityStore, windows: Windows, call: (store: ParityStore) => unknown,
	): Promise<Observation> {
		const before = Date.now();
		const value = await call(store);
		return windows.observe(value, before, Date.now(), this.windowMs, this.shortestWindowMs);
	}
}

/**
Each test on `target`'s clock: fake timers installed before it (so that its stores, created in it, take the fake
`Date.now`), its stores shut down after it.
*/
export function eachTestOn(target: Pick<ParityTarget, 'time'>): void {
	if (target.time === 'fake') {
		beforeEach(() => {
			// Date, performance and the timers are faked; the promise plumbing of Prisma and the clients (nextTick,
			// setImmediate, queueMicrotask) keeps running.
			jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'], now: 1_800_000_000_000});
		});
	}

	afterEach(async () => {
		await shutdownOpened();
		if (target.time === 'fake') {
			jest.useRealTimers();
		}
	});
}

/** The contract: the same calls give the same results on MemoryStore and on `target`'s store. */
export function memoryStoreParity(target: ParityTarget): void {
	const {windowMs} = target;
	const fake = target.time === 'fake';

	describe(`${target.name}: the same results as express-rate-limit's MemoryStore for the same calls`, () => {
		beforeAll(async () => {
			await target.setup();
		});

		afterAll(async () => {
			await target.teardown();
		});

		eachTestOn(target);

		const lockstep = async (settings?: StoreSettings, limit?: number) => {
			const pair = new Lockstep(target.create(settings), target.time);
			await pair.init(windowMs, limit);
			return pair;
		};

		test('the window: the first hit starts it, resetTime stays fixed within it, a hit at resetTime starts a new one at 1', async () => {
			const pair = await lockstep();
			expect(await pair.both('first hit', async store => store.increment('a')))
				.toMatchObject({totalHits: 1, resetTime: 'window 1'});
			if (pair.fake) {
				pair.advance(windowMs / 2);
			}

			expect(await pair.both('a hit within the window', async store => store.increment('a')))
				.toMatchObject({totalHits: 2, resetTime: 'window 1'});
			if (pair.fake) {
				pair.toLastMillisecond();
				expect(await pair.both('a hit in the window\'s last millisecond', async store => store.increment('a')))
					.toMatchObject({totalHits: 3, resetTime: 'window 1'});
			}

			await pair.untilWindowEnds();
			expect(await pair.both('a hit at resetTime', async store => store.increment('a')))
				.toMatchObject({totalHits: 1, resetTime: 'window 2'});
			expect(await pair.both('the next hit', async store => store.increment('a')))
				.toMatchObject({totalHits: 2, resetTime: 'window 2'});
			expect(await pair.both('another key counts on its own', async store => store.increment('b')))
				.toMatchObject({totalHits: 1});
		});

		test('get(): undefined for an unknown key; a live key\'s count and resetTime, without counting a hit; undefined once its window has ended', async () => {
			const pair = await lockstep();
			expect(await pair.both('get of an unknown key', async store => store.get('k'))).toBeUndefined();
			await pair.both('hit', async store => store.increment('k'));
			await pair.both('hit', async store => store.increment('k'));
			expect(await pair.both('get of a live key', async store => store.get('k'))).toMatchObject({totalHits: 2, resetTime: 'window 1'});
			expect(await pair.both('get again: no hit counted', async store => store.get('k'))).toMatchObject({totalHits: 2});
			if (pair.fake) {
				pair.toLastMillisecond();
				expect(await pair.both('get in the window\'s last millisecond', async store => store.get('k'))).toMatchObject({totalHits: 2});
			}

			await pair.untilWindowEnds();
			expect(await pair.both('get at resetTime', async store => store.get('k'))).toBeUndefined();
			expect(await pair.both('a hit after it', async store => store.increment('k'))).toMatchObject({totalHits: 1, resetTime: 'window 2'});
		});

		test('decrement(): takes one hit back, never below zero, in the same window; the next hit counts on from there', async () => {
			const pair = await lockstep();
			await pair.both('hit', async store => store.increment('k'));
			await pair.both('hit', async store => store.increment('k'));
			expect(await pair.both('decrement', async store => store.decrement('k'))).toBeUndefined();
			expect(await pair.both('get', async store => store.get('k'))).toMatchObject({totalHits: 1, resetTime: 'window 1'});
			await pair.both('decrement to zero', async store => store.decrement('k'));
			await pair.both('decrement at zero', async store => store.decrement('k'));
			expect(await pair.both('get at zero', async store => store.get('k'))).toMatchObject({totalHits: 0, resetTime: 'window 1'});
			expect(await pair.both('hit', async store => store.increment('k'))).toMatchObject({totalHits: 1, resetTime: 'window 1'});
		});

		test('decrement() once the window has ended changes nothing: get() stays undefined and the next hit starts a new window at 1', async () => {
			const pair = await lockstep();
			await pair.both('hit', async store => store.increment('k'));
			await pair.both('hit', async store => store.increment('k'));
			await pair.untilWindowEnds();
			await pair.both('decrement after resetTime', async store => store.decrement('k'));
			expect(await pair.both('get', async store => store.get('k'))).toBeUndefined();
			expect(await pair.both('hit', async store => store.increment('k'))).toMatchObject({totalHits: 1, resetTime: 'window 2'});
		});

		test('resetKey(): the key is forgotten and its next hit starts a new window at 1; other keys keep theirs; an unknown key resolves', async () => {
			const pair = await lockstep();
			await pair.both('hit a', async store => store.increment('a'));
			await pair.both('hit a', async store => store.increment('a'));
			await pair.both('hit b', async store => store.increment('b'));
			if (pair.fake) {
				pair.advance(windowMs / 4);
			}

			expect(await pair.both('resetKey(a)', async store => store.resetKey('a'))).toBeUndefined();
			expect(await pair.both('get a', async store => store.get('a'))).toBeUndefined();
			expect(await pair.both('get b', async store => store.get('b'))).toMatchObject({totalHits: 1, resetTime: 'window 1'});
			const restarted = await pair.both('hit a', async store => store.increment('a'));
			expect(restarted).toMatchObject({totalHits: 1});
			if (pair.fake) {
				// A new window, from this hit (with real time it ends a few ms after the first one: not told apart).
				expect(restarted).toMatchObject({resetTime: 'window 2', resetAt: (windowMs / 4) + windowMs});
			}

			expect(await pair.both('resetKey of an unknown key', async store => store.resetKey('never-seen'))).toBeUndefined();
			expect(await pair.both('get of it', async store => store.get('never-seen'))).toBeUndefined();
		});

		test('resetAll(): every key of the store is forgotten, each next hit starts a new window at 1; another store instance (another prefix) keeps its counts', async () => {
			const pair = await lockstep();
			const other = await lockstep();
			await pair.both('hit a', async store => store.increment('a'));
			await pair.both('hit a', async store => store.increment('a'));
			await pair.both('hit b', async store => store.increment('b'));
			await other.both('hit a in another store', async store => store.increment('a'));
			expect(await pair.both('resetAll()', async store => store.resetAll())).toBeUndefined();
			expect(await pair.both('get a', async store => store.get('a'))).toBeUndefined();
			expect(await pair.both('get b', async store => store.get('b'))).toBeUndefined();
			expect(await pair.both('hit a', async store => store.increment('a'))).toMatchObject({totalHits: 1});
			expect(await other.both('the other store', async store => store.get('a'))).toMatchObject({totalHits: 1, resetTime: 'window 1'});
			expect(await pair.both('resetAll() of an empty store', async store => store.resetAll())).toBeUndefined();
		});

		test('shutdown(): resolves, and the store still answers afterwards (a key it never saw starts at 1)', async () => {
			const pair = await lockstep();
			await pair.both('hit', async store => store.increment('a'));
			expect(await pair.both('shutdown()', async store => store.shutdown())).toBeUndefined();
			expect(await pair.both('a new key after shutdown()', async store => store.increment('fresh'))).toMatchObject({totalHits: 1});
			expect(await pair.both('its next hit', async store => store.increment('fresh'))).toMatchObject({totalHits: 2});
		});

		if (fake) {
			test('shutdown() stops every timer the store started (MemoryStore: its sweep interval; the Prisma store: its cleanup sweep)', async () => {
				const before = jest.getTimerCount();
				const memory = opening(new MemoryStore());
				const ours = opening(target.create());
				const options = middlewareOptions(windowMs);
				memory.init(options);
				await ours.init(options);
				expect(jest.getTimerCount()).toBeGreaterThan(before);
				memory.shutdown();
				await ours.shutdown();
				expect(jest.getTimerCount()).toBe(before);
			});
		}

		test('init(): the middleware\'s windowMs sets the window; a second init() changes the length of new windows, not a running one', async () => {
			const pair = await lockstep();
			const first = await pair.both('hit a', async store => store.increment('a'));
			await pair.init(windowMs * 2);
			const kept = await pair.both('hit a in its running window', async store => store.increment('a'));
			expect(kept).toMatchObject({totalHits: 2, resetTime: 'window 1'});
			// The new window's length is checked by the observation itself: a new window ends windowMs (now doubled) from now.
			expect(await pair.both('a new key', async store => store.increment('b'))).toMatchObject({totalHits: 1, resetTime: 'window 2'});
			if (pair.fake) {
				expect(first).toMatchObject({resetAt: windowMs});
			}
		});

		test('a key over its limit: totalHits keeps growing with the same resetTime, get() sees it, decrement() takes hits back, the window\'s end starts a new one at 1', async () => {
			const pair = await lockstep({}, 2);
			const hits = [];
			for (let index = 0; index < 5; index++) {
				// eslint-disable-next-line no-await-in-loop
				hits.push(await pair.both(`hit ${index + 1}`, async store => store.increment('abuser')));
			}

			expect(hits).toEqual([1, 2, 3, 4, 5].map(totalHits => expect.objectContaining({totalHits, resetTime: 'window 1'})));
			expect(await pair.both('get', async store => store.get('abuser'))).toMatchObject({totalHits: 5, resetTime: 'window 1'});
			await pair.both('decrement', async store => store.decrement('abuser'));
			expect(await pair.both('get', async store => store.get('abuser'))).toMatchObject({totalHits: 4});
			expect(await pair.both('hit', async store => store.increment('abuser'))).toMatchObject({totalHits: 5});
			for (let index = 0; index < 3; index++) {
				// eslint-disable-next-line no-await-in-loop
				await pair.both(`decrement ${index + 1} of 3`, async store => store.decrement('abuser'));
			}

			expect(await pair.both('get: back under the limit', async store => store.get('abuser'))).toMatchObject({totalHits: 2, resetTime: 'window 1'});
			expect(await pair.both('hit', async store => store.increment('abuser'))).toMatchObject({totalHits: 3, resetTime: 'window 1'});
			expect(await pair.both('hit', async store => store.increment('abuser'))).toMatchObject({totalHits: 4, resetTime: 'window 1'});
			if (pair.fake) {
				pair.toLastMillisecond();
				expect(await pair.both('hit in the last millisecond', async store => store.increment('abuser'))).toMatchObject({totalHits: 5});
			}

			await pair.untilWindowEnds();
			expect(await pair.both('hit at resetTime', async store => store.increment('abuser'))).toMatchObject({totalHits: 1, resetTime: 'window 2'});
			expect(await pair.both('get', async store => store.get('abuser'))).toMatchObject({totalHits: 1, resetTime: 'window 2'});
		});

		test('a key over its limit: resetKey() and resetAll() forget it, its next hit starts a new window at 1', async () => {
			const pair = await lockstep({}, 1);
			for (const step of ['hit', 'hit', 'hit']) {
				// eslint-disable-next-line no-await-in-loop
				await pair.both(step, async store => store.increment('a'));
			}

			if (pair.fake) {
				pair.advance(10);
			}

			await pair.both('resetKey(a)', async store => store.resetKey('a'));
			expect(await pair.both('get', async store => store.get('a'))).toBeUndefined();
			expect(await pair.both('hit', async store => store.increment('a'))).toMatchObject({totalHits: 1});
			await pair.both('hit', async store => store.increment('a'));
			await pair.both('hit', async store => store.increment('a'));
			await pair.both('resetAll()', async store => store.resetAll());
			expect(await pair.both('get', async store => store.get('a'))).toBeUndefined();
			expect(await pair.both('hit', async store => store.increment('a'))).toMatchObject({totalHits: 1});
		});
	});

	describe(`${target.name}: where it differs from MemoryStore on purpose (examples/README.md)`, () => {
		beforeAll(async () => {
			await target.setup();
		});

		afterAll(async () => {
			await target.teardown();
		});

		eachTestOn(target);

		/** Another process's store on the same Redis/database: it reads what the store holds, with no memory of its own. */
		const elsewhere = async (store: OurStore) => {
			const other = opening(target.create({prefix: store.prefix, inMemoryBlock: false}));
			await other.init(middlewareOptions(windowMs));
			return other;
		};

		const ours = async (settings?: StoreSettings, limit?: Options['limit']) => {
			const store = opening(target.create(settings));
			await store.init(middlewareOptions(windowMs, limit));
			return store;
		};

		test('localKeys is false and prefix is the store\'s key prefix, a string (MemoryStore: true and undefined): the counts are shared', async () => {
			const memory = new MemoryStore();
			const {localKeys, prefix} = memory as Store;
			expect({localKeys, prefix}).toEqual({localKeys: true, prefix: undefined});
			const store = await ours({prefix: 'parity-shared:'});
			expect({localKeys: store.localKeys, prefix: store.prefix}).toEqual({localKeys: false, prefix: 'parity-shared:'});
			expect(target.create().prefix).toEqual(expect.any(String));
			await store.resetAll();
			await store.increment('a');
			await expect((await elsewhere(store)).get('a')).resolves.toMatchObject({totalHits: 1});
		});

		test('shutdown() resets nothing and leaves the client open: the counts stay for the other processes, the next hit counts on (MemoryStore starts again at 1)', async () => {
			const memory = opening(new MemoryStore());
			memory.init(middlewareOptions(windowMs));
			const store = await ours();
			for (const each of [memory, store] as ParityStore[]) {
				// eslint-disable-next-line no-await-in-loop
				await each.increment('a');
				// eslint-disable-next-line no-await-in-loop
				await each.increment('a');
				// eslint-disable-next-line no-await-in-loop
				await each.shutdown();
			}

			await expect(memory.get('a')).resolves.toBeUndefined();
			await expect(memory.increment('a')).resolves.toMatchObject({totalHits: 1});
			await expect((await elsewhere(store)).get('a')).resolves.toMatchObject({totalHits: 2});
			await expect(store.get('a')).resolves.toMatchObject({totalHits: 2});
			await expect(store.increment('a')).resolves.toMatchObject({totalHits: 3});
		});

		test('resetAll() deletes its own prefix, wherever it was counted: a store with the same prefix (another process) loses those keys too; another prefix keeps its own', async () => {
			const store = await ours();
			const sameprefix = await ours({prefix: store.prefix});
			const otherPrefix = await ours();
			await store.increment('a');
			await sameprefix.increment('b');
			await otherPrefix.increment('a');
			await store.resetAll();
			await expect(sameprefix.get('b')).resolves.toBeUndefined();
			await expect(store.get('a')).resolves.toBeUndefined();
			await expect(otherPrefix.get('a')).resolves.toMatchObject({totalHits: 1});
		});

		test('init() also takes the middleware\'s limit when it is a number (MemoryStore has none): it decides which keys are answered from memory; a function leaves the store\'s own', async () => {
			const fromFunction = await ours({}, () => 2);
			const fromNumber = await ours({}, 2);
			for (const store of [fromFunction, fromNumber]) {
				for (let index = 0; index < 5; index++) {
					// eslint-disable-next-line no-await-in-loop
					await expect(store.increment('k')).resolves.toMatchObject({totalHits: index + 1});
				}
			}

			// The store's own limit (none) stays with a function: every hit recorded; with 2, the store records up to the
			// first refused hit and answers the rest from memory.
			await expect((await elsewhere(fromFunction)).get('k')).resolves.toMatchObject({totalHits: 5});
			await expect((await elsewhere(fromNumber)).get('k')).resolves.toMatchObject({totalHits: 3});
		});

		test('keys over their limit are answered from memory: the store records the hits up to the first refused one; another process reads that, and counts its own hit', async () => {
			const store = await ours({}, 2);
			const answers = [];
			for (let index = 0; index < 6; index++) {
				// eslint-disable-next-line no-await-in-loop
				answers.push(await store.increment('abuser'));
			}

			expect(answers.map(info => info.totalHits)).toEqual([1, 2, 3, 4, 5, 6]);
			// One window: the same resetTime (real time: within the round trip the store adds its time left to).
			const ends = answers.map(info => info.resetTime!.getTime());
			expect(Math.max(...ends) - Math.min(...ends)).toBeLessThanOrEqual(fake ? 0 : 100);
			const other = await elsewhere(store);
			await expect(other.get('abuser')).resolves.toMatchObject({totalHits: 3});
			await expect(other.increment('abuser')).resolves.toMatchObject({totalHits: 4});
			// This process still answers from memory until the window ends.
			await expect(store.increment('abuser')).resolves.toMatchObject({totalHits: 7});
		});

		test('decrement() of a key it never counted writes nothing (MemoryStore opens an empty window there, which the key\'s next hit joins)', async () => {
			const memory = opening(new MemoryStore());
			memory.init(middlewareOptions(windowMs));
			const store = await ours();
			const before = Date.now();
			await memory.decrement('k');
			const after = Date.now();
			await store.decrement('k');
			const empty = await memory.get('k');
			expect(empty?.totalHits).toBe(0);
			expect(empty?.resetTime?.getTime()).toBeGreaterThanOrEqual(before + windowMs);
			expect(empty?.resetTime?.getTime()).toBeLessThanOrEqual(after + windowMs);
			await expect(store.get('k')).resolves.toBeUndefined();
			await expect((await elsewhere(store)).get('k')).resolves.toBeUndefined();
			if (fake) {
				jest.advanceTimersByTime(windowMs / 2);
				// MemoryStore's window began at the decrement; ours begins at the first hit.
				await expect(memory.increment('k')).resolves.toEqual({totalHits: 1, resetTime: new Date(before + windowMs)});
				await expect(store.increment('k')).resolves.toEqual({totalHits: 1, resetTime: new Date(Date.now() + windowMs)});
			}
		});
	});
}
