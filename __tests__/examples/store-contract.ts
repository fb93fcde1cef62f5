/*
What every example store promises, run against the Redis store (single server and cluster) and the Prisma store (SQLite
and PostgreSQL) on real servers.
*/
import type {ClientRateLimitInfo} from 'express-rate-limit';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';
import type {RateLimitPrisma} from '../../examples/rate-limit/prisma-clients.js';
import {uniquePrefix} from '../helpers/stores.js';

export type StoreUnderTest = {
	increment(key: string): Promise<ClientRateLimitInfo>;
	decrement(key: string): Promise<void>;
	resetKey(key: string): Promise<void>;
	resetAll(): Promise<void>;
	shutdown(): Promise<void>;
	get(key: string): Promise<ClientRateLimitInfo | undefined>;
	init(options: {windowMs: number; limit?: unknown}): void;
	prefix: string;
	limit: number;
};

/** What a test may choose of a store; a fresh prefix unless it names one. */
export type StoreSettings = {windowMs: number; prefix?: string; limit?: number; inMemoryBlock?: boolean};

export type StoreTarget = {
	name: string;
	setup(): Promise<void>;
	teardown(): Promise<void>;
	/** A store with a fresh prefix (or `prefix`). */
	store(settings: StoreSettings): StoreUnderTest;
	/** Let the window of `info` end (real time for Redis TTLs, a moved clock for SQL). */
	endWindow(info: ClientRateLimitInfo): Promise<void>;
	/** Every key the store holds for `prefix` (to prove nothing was written). */
	keysWithPrefix(prefix: string): Promise<string[]>;
};

export function storeContract(target: StoreTarget): void {
	describe(`rate-limit store contract: ${target.name}`, () => {
		beforeAll(async () => {
			await target.setup();
		});

		afterAll(async () => {
			await target.teardown();
		});

		test('1,000 concurrent increments of one key give totalHits 1,000 exactly', async () => {
			const store = target.store({windowMs: 60_000});
			const results = await Promise.all(Array.from({length: 1000}, async () => store.increment('hot')));
			const hits = results.map(result => result.totalHits).sort((a, b) => a - b);
			expect(hits[hits.length - 1]).toBe(1000);
			// Every increment saw a distinct count: no lost update, no read-modify-write.
			expect(new Set(hits).size).toBe(1000);
			expect((await store.get('hot'))?.totalHits).toBe(1000);
		});

		test('the first hit starts the window; resetTime is about windowMs ahead and stays fixed within the window', async () => {
			const store = target.store({windowMs: 60_000});
			const before = Date.now();
			const first = await store.increment('window');
			const second = await store.increment('window');
			expect(first.totalHits).toBe(1);
			expect(second.totalHits).toBe(2);
			expect(first.resetTime!.getTime()).toBeGreaterThanOrEqual(before + 59_000);
			expect(first.resetTime!.getTime()).toBeLessThanOrEqual(Date.now() + 60_000);
			expect(Math.abs(second.resetTime!.getTime() - first.resetTime!.getTime())).toBeLessThan(1000);
		});

		test('an expired window restarts at 1', async () => {
			const store = target.store({windowMs: 200});
			await store.increment('expiring');
			const last = await store.increment('expiring');
			expect(last.totalHits).toBe(2);
			await target.endWindow(last);
			await expect(store.increment('expiring')).resolves.toMatchObject({totalHits: 1});
		});

		test('decrement takes one hit back, never below zero; resetKey forgets the key', async () => {
			const store = target.store({windowMs: 60_000});
			await store.increment('k');
			await store.increment('k');
			await store.decrement('k');
			expect((await store.get('k'))?.totalHits).toBe(1);
			await store.decrement('k');
			await store.decrement('k');
			expect((await store.get('k'))?.totalHits ?? 0).toBe(0);
			await store.resetKey('k');
			expect(await store.get('k')).toBeUndefined();
			await expect(store.increment('k')).resolves.toMatchObject({totalHits: 1});
		});

		test('keys are prefixed, and different keys count separately', async () => {
			const store = target.store({windowMs: 60_000});
			await store.increment('a');
			await store.increment('a');
			await store.increment('b');
			expect((await store.get('a'))?.totalHits).toBe(2);
			expect((await store.get('b'))?.totalHits).toBe(1);
			expect((await target.keysWithPrefix(store.prefix)).sort()).toEqual([`${store.prefix}a`, `${store.prefix}b`]);
		});

		test('resetAll() deletes every key of its prefix (on every master of a Cluster), and no other store\'s', async () => {
			const store = target.store({windowMs: 60_000});
			const other = target.store({windowMs: 60_000});
			const keys = Array.from({length: 60}, (_, index) => `user-${index}`);
			await Promise.all(keys.map(async key => store.increment(key)));
			await other.increment('user-0');
			expect(await target.keysWithPrefix(store.prefix)).toHaveLength(60);

			await store.resetAll();
			expect(await target.keysWithPrefix(store.prefix)).toEqual([]);
			expect(await store.get('user-1')).toBeUndefined();
			await expect(store.increment('user-1')).resolves.toMatchObject({totalHits: 1});
			expect((await other.get('user-0'))?.totalHits).toBe(1);
		});

		test('shutdown() resolves and resets nothing: the counts stay for the other processes, and the store still counts', async () => {
			const store = target.store({windowMs: 60_000});
			await store.increment('kept');
			await store.shutdown();
			expect((await target.store({windowMs: 60_000, prefix: store.prefix}).get('kept'))?.totalHits).toBe(1);
			await expect(store.increment('kept')).resolves.toMatchObject({totalHits: 2});
		});

		test('init() takes the middleware\'s window, and its limit when that is a number', () => {
			const store = target.store({windowMs: 60_000, limit: 7});
			store.init({windowMs: 30_000, limit: () => 3});
			expect(store).toMatchObject({limit: 7});
			store.init({windowMs: 30_000, limit: 5});
			expect(store).toMatchObject({limit: 5});
		});

		describe('keys over their limit are answered from memory until their window ends', () => {
			test('no store call for them: the stored count stays at the first hit over the limit; headers still sensible', async () => {
				const store = target.store({windowMs: 60_000, limit: 3});
				const counted = await Promise.all([1, 2, 3, 4].map(async () => store.increment('abuser')));
				expect(counted.map(info => info.totalHits).sort()).toEqual([1, 2, 3, 4]);
				const blocked = await Promise.all(Array.from({length: 50}, async () => store.increment('abuser')));
				// Every answer refuses (over 3), with the window's own reset time.
				expect(blocked.every(info => info.totalHits > 3)).toBe(true);
				expect(Math.max(...blocked.map(info => info.totalHits))).toBe(54);
				const resetAt = counted.find(info => info.totalHits === 4)!.resetTime!.getTime();
				for (const info of blocked) {
					expect(Math.abs(info.resetTime!.getTime() - resetAt)).toBeLessThan(1000);
				}

				// Another process's store (same prefix, no memory of this key) asks the backend: it had 4, and counts its hit.
				const elsewhere = target.store({windowMs: 60_000, limit: 3, prefix: store.prefix});
				expect((await elsewhere.get('abuser'))?.totalHits).toBe(4);
				await expect(elsewhere.increment('abuser')).resolves.toMatchObject({totalHits: 5});
				// get() of the blocked key answers from memory too.
				expect((await store.get('abuser'))?.totalHits).toBe(54);
			});

			test('a decrement takes back a hit answered from memory without the store; the store decides again once its own count drops', async () => {
				const store = target.store({windowMs: 60_000, limit: 2});
				const reader = target.store({windowMs: 60_000, prefix: store.prefix, inMemoryBlock: false});
				for (let index = 0; index < 5; index++) {
					// eslint-disable-next-line no-await-in-loop
					await store.increment('k');
				}

				// 3 counted by the store (the third over the limit), 2 from memory.
				expect((await reader.get('k'))?.totalHits).toBe(3);
				await store.decrement('k');
				await store.decrement('k');
				expect((await reader.get('k'))?.totalHits).toBe(3);
				// A third decrement is a counted hit's: the store takes it, and decides the next hit itself.
				await store.decrement('k');
				expect((await reader.get('k'))?.totalHits).toBe(2);
				await expect(store.increment('k')).resolves.toMatchObject({totalHits: 3});
				expect((await reader.get('k'))?.totalHits).toBe(3);
			});

			test('the window ends: the next hit goes to the store and starts at 1; resetKey() and resetAll() forget the block', async () => {
				const store = target.store({windowMs: 300, limit: 1});
				await store.increment('a');
				const over = await store.increment('a');
				expect(over.totalHits).toBe(2);
				await expect(store.increment('a')).resolves.toMatchObject({totalHits: 3});
				await target.endWindow(over);
				await expect(store.increment('a')).resolves.toMatchObject({totalHits: 1});

				const long = target.store({windowMs: 60_000, limit: 1});
				await long.increment('b');
				await long.increment('b');
				await long.resetKey('b');
				await expect(long.increment('b')).resolves.toMatchObject({totalHits: 1});
				await long.increment('b');
				await long.resetAll();
				await expect(long.increment('b')).resolves.toMatchObject({totalHits: 1});
			});

			test('inMemoryBlock: false records every hit in the store', async () => {
				const store = target.store({windowMs: 60_000, limit: 1, inMemoryBlock: false});
				await Promise.all(Array.from({length: 20}, async () => store.increment('every')));
				const reader = target.store({windowMs: 60_000, prefix: store.prefix, inMemoryBlock: false});
				expect((await reader.get('every'))?.totalHits).toBe(20);
			});
		});

		test.each([[''], [undefined], [42]])('a bad key (%p) is rejected and nothing is written', async key => {
			const store = target.store({windowMs: 60_000});
			await expect(store.increment(key as never)).rejects.toThrow(/`key`/);
			await expect(store.decrement(key as never)).rejects.toThrow(/`key`/);
			await expect(store.resetKey(key as never)).rejects.toThrow(/`key`/);
			expect(await target.keysWithPrefix(store.prefix)).toEqual([]);
		});
	});
}

/** The Prisma store on a database opened by `open`, with a clock that endWindow() moves forward. */
type OpenDatabase = () => Promise<{prisma: RateLimitPrisma; cleanup(): Promise<void>}>;

export function prismaTarget(name: string, open: OpenDatabase): StoreTarget {
	let prisma: RateLimitPrisma;
	let cleanup: () => Promise<void>;
	// Real time plus an offset that endWindow() moves forward.
	let offset = 0;
	const now = () => Date.now() + offset;
	return {
		name,
		async setup() {
			({prisma, cleanup} = await open());
		},
		teardown: async () => cleanup(),
		// The background sweep has its own tests (prisma-cleanup.ts).
		store: ({prefix = uniquePrefix('sql'), ...settings}) => new PrismaRateLimitStore({
			prisma, prefix, now, cleanupIntervalMs: 0, ...settings,
		}),
		async endWindow(info) {
			offset += Math.max(0, info.resetTime!.getTime() - now());
		},
		async keysWithPrefix(prefix) {
			const rows = await prisma.$queryRaw<Array<{key: string}>>`SELECT "key" FROM "rate_limit_hits" WHERE "key" LIKE ${`${prefix}%`}`;
			return rows.map(row => row.key);
		},
	};
}
