/*
What the sliding window and the token bucket promise on every store (algorithms.test.ts: Redis single server and
Cluster, ioredis and node-redis, Prisma on SQLite; algorithms-postgres.test.ts: Prisma on PostgreSQL), checked against
the reference model of algorithms.ts on a moving clock (the stores' `now` option). Tolerance zero: the same admitted
hits, totalHits and resetTime for the same clock.
*/
import fc from 'fast-check';
import type {ClientRateLimitInfo} from 'express-rate-limit';
import {emptyState, rules, type AlgorithmState} from '../../examples/rate-limit/algorithms.js';

type StateAlgorithm = 'sliding-window' | 'token-bucket';

export type AlgorithmStore = {
	increment(key: string): Promise<ClientRateLimitInfo>;
	decrement(key: string): Promise<void>;
	resetKey(key: string): Promise<void>;
	resetAll(): Promise<void>;
	shutdown(): Promise<void>;
	get(key: string): Promise<ClientRateLimitInfo | undefined>;
};

export type AlgorithmTarget = {
	name: string;
	setup(): Promise<void>;
	teardown(): Promise<void>;
	store(settings: {
		algorithm: StateAlgorithm; windowMs: number; limit: number; now: () => number; inMemoryBlock: boolean;
	}): AlgorithmStore;
};

type Step = {advance: number; key: 'a' | 'b'; operation: 'hit' | 'decrement' | 'get'};

const step = (windowMs: number, operations: Array<Step['operation']>) => fc.record({
	// Mostly within a window, sometimes past one or two: every branch of the rolling and draining.
	advance: fc.oneof(fc.integer({min: 0, max: Math.ceil(windowMs / 10)}), fc.integer({min: 0, max: 2 * windowMs})),
	key: fc.constantFrom('a' as const, 'b' as const),
	operation: fc.constantFrom(...operations),
});

// Odd windows and limits too: windowMs / limit is rarely whole.
const settings = fc.record({
	windowMs: fc.constantFrom(7, 100, 1000, 60_000),
	limit: fc.integer({min: 1, max: 8}),
	start: fc.integer({min: 1_600_000_000_000, max: 1_800_000_000_000}),
});

export function algorithmSuite(target: AlgorithmTarget): void {
	describe.each(['sliding-window', 'token-bucket'] as const)(`%s on ${target.name}`, algorithm => {
		beforeAll(async () => {
			await target.setup();
		});

		afterAll(async () => {
			await target.teardown();
		});

		const rule = rules[algorithm];

		test('every hit, decrement and read answered as the model answers it, on a moving clock (inMemoryBlock: false)', async () => {
			await fc.assert(fc.asyncProperty(settings, fc.array(step(1000, ['hit', 'hit', 'hit', 'decrement', 'get']), {maxLength: 40}), async ({windowMs, limit, start}, steps) => {
				let now = start;
				const store = target.store({algorithm, windowMs, limit, now: () => now, inMemoryBlock: false});
				const model: Record<string, AlgorithmState> = {a: emptyState, b: emptyState};
				const at = () => ({now, windowMs, limit});
				for (const {advance, key, operation} of steps) {
					now += Math.round(advance * windowMs / 1000);
					if (operation === 'hit') {
						const expected = rule.hit(model[key]!, at());
						model[key] = expected.state;
						// eslint-disable-next-line no-await-in-loop
						const info = await store.increment(key);
						expect({totalHits: info.totalHits, resetTime: info.resetTime?.getTime()})
							.toEqual({totalHits: expected.totalHits, resetTime: expected.resetTime});
						expect(info.totalHits <= limit).toBe(expected.allowed);
					} else if (operation === 'decrement') {
						model[key] = rule.decrement(model[key]!, at());
						// eslint-disable-next-line no-await-in-loop
						await store.decrement(key);
					} else {
						// eslint-disable-next-line no-await-in-loop
						const info = await store.get(key);
						if (info !== undefined) {
							const expected = rule.peek(model[key]!, at());
							expect({totalHits: info.totalHits, resetTime: info.resetTime?.getTime()}).toEqual(expected);
						}
					}
				}
			}), {numRuns: 40});
		});

		test('with keys over their limit answered from memory (inMemoryBlock: true), the same hits admitted and the same resetTime', async () => {
			await fc.assert(fc.asyncProperty(settings, fc.array(step(1000, ['hit']), {maxLength: 40}), async ({windowMs, limit, start}, steps) => {
				let now = start;
				const store = target.store({algorithm, windowMs, limit, now: () => now, inMemoryBlock: true});
				const model: Record<string, AlgorithmState> = {a: emptyState, b: emptyState};
				for (const {advance, key} of steps) {
					now += Math.round(advance * windowMs / 1000);
					const expected = rule.hit(model[key]!, {now, windowMs, limit});
					model[key] = expected.state;
					// eslint-disable-next-line no-await-in-loop
					const info = await store.increment(key);
					expect({allowed: info.totalHits <= limit, resetTime: info.resetTime?.getTime()})
						.toEqual({allowed: expected.allowed, resetTime: expected.resetTime});
				}
			}), {numRuns: 30});
		});

		test('a refused client that waits exactly until resetTime (Retry-After) is let through, and one that waits a millisecond less is not', async () => {
			const gaps = fc.array(fc.integer({min: 0, max: 300}), {maxLength: 20});
			const memory = fc.boolean();
			await fc.assert(fc.asyncProperty(settings, gaps, memory, async ({windowMs, limit, start}, before, inMemoryBlock) => {
				let now = start;
				const store = target.store({algorithm, windowMs, limit, now: () => now, inMemoryBlock});
				for (const gap of before) {
					now += Math.round(gap * windowMs / 1000);
					// eslint-disable-next-line no-await-in-loop
					await store.increment('k');
				}

				// Then hammer until refused: at most `limit` hits get through.
				let refused: ClientRateLimitInfo | undefined;
				for (let index = 0; index <= limit && refused === undefined; index++) {
					// eslint-disable-next-line no-await-in-loop
					const info = await store.increment('k');
					refused = info.totalHits > limit ? info : undefined;
				}

				expect(refused).toBeDefined();
				const retryAt = refused!.resetTime!.getTime();
				expect(retryAt).toBeGreaterThan(now);
				now = retryAt - 1;
				expect((await store.increment('k')).totalHits).toBeGreaterThan(limit);
				now = retryAt;
				expect((await store.increment('k')).totalHits).toBeLessThanOrEqual(limit);
			}), {numRuns: 25});
		});

		test('200 concurrent hits on each of 3 keys at one instant: exactly `limit` admitted per key, no lost update', async () => {
			const now = 1_700_000_000_000;
			const limit = 50;
			const store = target.store({algorithm, windowMs: 60_000, limit, now: () => now, inMemoryBlock: false});
			const keys = ['x', 'y', 'z'];
			const results = await Promise.all(Array.from({length: 600}, async (_, index) => store.increment(keys[index % 3]!)));
			for (const [index, key] of keys.entries()) {
				const admitted = results.filter((result, at) => at % 3 === index && result.totalHits <= limit);
				expect(admitted).toHaveLength(limit);
				// eslint-disable-next-line no-await-in-loop
				await expect(store.get(key)).resolves.toMatchObject({totalHits: limit});
			}
		});

		test('resetKey forgets one key (memory too), resetAll every key of the store, shutdown keeps the counts', async () => {
			let now = 1_700_000_000_000;
			const store = target.store({algorithm, windowMs: 60_000, limit: 2, now: () => now, inMemoryBlock: true});
			for (const key of ['a', 'a', 'a', 'b', 'b', 'b']) {
				// eslint-disable-next-line no-await-in-loop
				await store.increment(key);
			}

			now += 1;
			await store.resetKey('a');
			await expect(store.increment('a')).resolves.toMatchObject({totalHits: 1});
			// Still refused: answered from memory (which counts on past the store's `limit + 1`)…
			expect((await store.increment('b')).totalHits).toBeGreaterThan(3);
			await store.shutdown();
			// …and after shutdown() forgot the memory, by the store, which kept the count.
			await expect(store.increment('b')).resolves.toMatchObject({totalHits: 3});
			await store.resetAll();
			await expect(store.get('b')).resolves.toBeUndefined();
			await expect(store.increment('b')).resolves.toMatchObject({totalHits: 1});
		});
	});
}
