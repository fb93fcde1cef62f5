/*
PrismaRateLimitStore's expired-row cleanup on a real database through Prisma: deleteExpired() and the background sweep.
Run on SQLite (stores.test.ts) and PostgreSQL (stores-postgres.test.ts).
*/
import {PrismaRateLimitStore, deleteBatchSize} from '../../examples/rate-limit/prisma-store.js';
import type {RateLimitPrisma} from '../../examples/rate-limit/prisma-clients.js';
import {flush} from '../helpers/deferred.js';
import {uniquePrefix} from '../helpers/stores.js';

type Database = {prisma: RateLimitPrisma; cleanup(): Promise<void>};

export function prismaCleanupSuite(name: string, open: () => Promise<Database>, {sharedDatabase = false} = {}): void {
	describe(`PrismaRateLimitStore cleanup: ${name}`, () => {
		let database: Database;
		const stores: PrismaRateLimitStore[] = [];

		beforeAll(async () => {
			database = await open();
		});

		afterEach(async () => {
			await Promise.all(stores.splice(0).map(async store => store.shutdown()));
		});

		afterAll(async () => {
			await database.cleanup();
		});

		/** A store on its own prefix and clock; no sweep unless asked for. */
		type StoreOptions = {cleanupIntervalMs?: number; logger?: {warn: jest.Mock; info: jest.Mock}};
		function storeAt(clock: {now: number}, options: StoreOptions = {}) {
			const store = new PrismaRateLimitStore({
				prisma: database.prisma, windowMs: 1000, prefix: uniquePrefix('cleanup'), cleanupIntervalMs: 0, now: () => clock.now, ...options,
			});
			stores.push(store);
			return store;
		}

		async function rowsWithPrefix(prefix: string): Promise<number> {
			const [row] = await database.prisma.$queryRaw<Array<{count: number | bigint}>>`
				SELECT COUNT(*) AS "count" FROM "rate_limit_hits" WHERE "key" LIKE ${`${prefix}%`}`;
			return Number(row!.count);
		}

		async function hit(store: PrismaRateLimitStore, keys: number, label: string) {
			await Promise.all(Array.from({length: keys}, async (_, index) => store.increment(`${label}-${index}`)));
		}

		test('deleteExpired() deletes exactly the rows whose window ended and says how many', async () => {
			const clock = {now: Date.now()};
			const store = storeAt(clock);
			await hit(store, 30, 'old');
			clock.now += 5000;
			await hit(store, 20, 'fresh');
			clock.now += 500;
			expect(await rowsWithPrefix(store.prefix)).toBe(50);

			const deleted = await store.deleteExpired();
			expect(await rowsWithPrefix(store.prefix)).toBe(20);
			if (sharedDatabase) {
				// Other test files' expired rows may go too: every prefix is swept.
				expect(deleted).toBeGreaterThanOrEqual(30);
			} else {
				expect(deleted).toBe(30);
			}

			await expect(store.get('fresh-0')).resolves.toMatchObject({totalHits: 1});
			await expect(store.deleteExpired()).resolves.toBe(0);
		});

		test(`a table of more than one batch (${deleteBatchSize} rows) is deleted in batches`, async () => {
			const clock = {now: Date.now()};
			const store = storeAt(clock);
			await hit(store, deleteBatchSize * 2 + 500, 'many');
			clock.now += 2000;
			const statements = jest.spyOn(database.prisma, '$executeRaw');
			try {
				const deleted = await store.deleteExpired();
				expect(deleted).toBeGreaterThanOrEqual(deleteBatchSize * 2 + 500);
				expect(statements.mock.calls.length).toBeGreaterThanOrEqual(3);
				expect(await rowsWithPrefix(store.prefix)).toBe(0);
			} finally {
				statements.mockRestore();
			}
		});

		describe('the background sweep (fake interval timer, real database)', () => {
			beforeEach(() => {
				// Only the sweep's interval is faked: Prisma and the drivers keep their real timers.
				jest.useFakeTimers({
					doNotFake: ['Date', 'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame',
						'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout'],
				});
			});

			afterEach(() => {
				jest.useRealTimers();
			});

			test('empties a table of expired keys on its own, every `cleanupIntervalMs`; close() stops it', async () => {
				const clock = {now: Date.now()};
				const store = storeAt(clock, {cleanupIntervalMs: 50});
				await hit(store, 40, 'swept');
				clock.now += 2000;
				const statements = jest.spyOn(database.prisma, '$executeRaw');
				try {
					jest.advanceTimersByTime(49);
					expect(statements).not.toHaveBeenCalled();
					jest.advanceTimersByTime(1);
					expect(statements).toHaveBeenCalledTimes(1);
					// close() waits for the sweep under way, then nothing runs any more.
					await store.shutdown();
					expect(await rowsWithPrefix(store.prefix)).toBe(0);
					jest.advanceTimersByTime(500);
					expect(statements).toHaveBeenCalledTimes(1);
				} finally {
					statements.mockRestore();
				}
			});

			test('a sweep is skipped while the previous one still runs', async () => {
				const clock = {now: Date.now()};
				const store = storeAt(clock, {cleanupIntervalMs: 10});
				let release!: () => void;
				const held = new Promise<void>(resolve => {
					release = resolve;
				});
				const statements = jest.spyOn(database.prisma, '$executeRaw').mockImplementation((async () => {
					await held;
					return 0;
				}) as never);
				try {
					jest.advanceTimersByTime(50);
					expect(statements).toHaveBeenCalledTimes(1);
					release();
					await store.shutdown();
				} finally {
					statements.mockRestore();
				}
			});

			test('a failing sweep rejects nothing in the app and logs once per failure streak, and once when it works again', async () => {
				const clock = {now: Date.now()};
				const logger = {warn: jest.fn(), info: jest.fn()};
				const store = storeAt(clock, {cleanupIntervalMs: 10, logger});
				const failure = new Error('database is locked');
				const statements = jest.spyOn(database.prisma, '$executeRaw').mockRejectedValue(failure as never);
				try {
					for (let tick = 0; tick < 3; tick++) {
						jest.advanceTimersByTime(10);
						// The mocked statement rejects at once: a turn of the event loop settles that sweep.
						// eslint-disable-next-line no-await-in-loop
						await flush();
					}

					expect(statements).toHaveBeenCalledTimes(3);
					expect(logger.warn).toHaveBeenCalledTimes(1);
					expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('cleanup failed'), failure);
				} finally {
					statements.mockRestore();
				}

				// The store itself works meanwhile; the next sweep works and says so once.
				await expect(store.increment('still-works')).resolves.toMatchObject({totalHits: 1});
				jest.advanceTimersByTime(10);
				await store.shutdown();
				expect(logger.info).toHaveBeenCalledTimes(1);
				expect(logger.warn).toHaveBeenCalledTimes(1);
			});
		});
	});
}
