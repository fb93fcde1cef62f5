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
	get(key: string): Promise<ClientRateLimitInfo | undefined>;
	prefix: string;
};

export type StoreTarget = {
	name: string;
	setup(): Promise<void>;
	teardown(): Promise<void>;
	/** A store with a fresh prefix. */
	store(options: {windowMs: number}): StoreUnderTest;
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
		store: ({windowMs}) => new PrismaRateLimitStore({prisma, windowMs, prefix: uniquePrefix('sql'), now, cleanupIntervalMs: 0}),
		async endWindow(info) {
			offset += Math.max(0, info.resetTime!.getTime() - now());
		},
		async keysWithPrefix(prefix) {
			const rows = await prisma.$queryRaw<Array<{key: string}>>`SELECT "key" FROM "rate_limit_hits" WHERE "key" LIKE ${`${prefix}%`}`;
			return rows.map(row => row.key);
		},
	};
}
