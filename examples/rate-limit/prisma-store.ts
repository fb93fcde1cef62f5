import {readdir, readFile} from 'node:fs/promises';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import type {ClientRateLimitInfo, Options as MiddlewareOptions, Store} from 'express-rate-limit';
import {
	checkKey, checkStoreOptions, toConsumeResult, windowFromMiddleware,
	type ConsumeResult, type HandedCount, type RateLimitStoreOptions,
} from './options.js';

/**
The part of a Prisma 7 client the store uses. Both generated clients of this example (SQLite through
`@prisma/adapter-better-sqlite3`, PostgreSQL through `@prisma/adapter-pg`) have it, as does any other Prisma client.
*/
export type PrismaRawClient = {
	$queryRaw<T = unknown>(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<T>;
	$executeRaw(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<number>;
	$executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
};

export type PrismaProvider = 'sqlite' | 'postgres';

export type PrismaRateLimitStoreOptions = RateLimitStoreOptions & {
	prisma: PrismaRawClient;
	/** The clock, in ms since the epoch (tests move it to end a window). @default Date.now */
	now?: () => number;
	/**
	How often a background sweep deletes expired rows (`deleteExpired()`), in ms; `0` turns it off. The timer is
	`unref`'d, a sweep is skipped while the previous one still runs, and `close()` stops it. @default 60_000
	*/
	cleanupIntervalMs?: number;
	/** Receives one line when sweeps start failing (with the error) and one when they work again. @default console */
	logger?: {warn(message: string, cause?: unknown): void; info(message: string): void};
};

/** Where this example keeps its checked-in SQL migrations: beside this file, wherever it is copied and run from. */
export const defaultMigrationsDir = fileURLToPath(new URL('prisma/migrations/', import.meta.url));

/** Rows deleted per statement by `deleteExpired()`: short statements, so a huge table is never locked for long. */
export const deleteBatchSize = 1000;

/**
Apply the checked-in SQL migrations (`*.{provider}.sql`, in name order) to the database. Prisma 7's `migrate`/`db push`
need a native schema engine; plain SQL through the client needs none. Every migration is idempotent (`IF NOT EXISTS`).
*/
export async function applyRateLimitMigrations(
	prisma: PrismaRawClient,
	provider: PrismaProvider,
	migrationsDir: string = defaultMigrationsDir,
): Promise<void> {
	const files = (await readdir(migrationsDir)).filter(file => file.endsWith(`.${provider}.sql`)).sort();
	for (const file of files) {
		try {
			// eslint-disable-next-line no-await-in-loop
			await prisma.$executeRawUnsafe(await readFile(join(migrationsDir, file), 'utf8'));
		} catch (error) {
			// SQLite cannot say ADD COLUMN IF NOT EXISTS; its answer to a second run is this.
			if (!(provider === 'sqlite' && /duplicate column name/i.test(String(error)))) {
				throw error;
			}
		}
	}
}

type Row = {hits: number | bigint; reset_at: number | bigint};
type UnsyncedRow = Row & {key: string; synced: number | bigint};

/**
The same fixed-window store on SQL through Prisma 7 (driver adapters, no engine binary), for when Redis is unavailable.
Each increment is one `INSERT … ON CONFLICT DO UPDATE … RETURNING` statement — atomic under any concurrency, no
read-modify-write — and an expired window restarts at 1. Runs on SQLite (3.35+) and PostgreSQL alike.

@example
```
import {PrismaClient} from './generated/sqlite/client.js';
import {PrismaBetterSqlite3} from '@prisma/adapter-better-sqlite3';

const prisma = new PrismaClient({adapter: new PrismaBetterSqlite3({url: 'file:./rate-limit.db'})});
await applyRateLimitMigrations(prisma, 'sqlite');
const store = new PrismaRateLimitStore({prisma, windowMs: 60_000});
```
*/
export class PrismaRateLimitStore implements Store {
	readonly prefix: string;
	readonly localKeys = false;
	windowMs: number;
	readonly limit: number;
	private readonly prisma: PrismaRawClient;
	private readonly now: () => number;
	private readonly logger: NonNullable<PrismaRateLimitStoreOptions['logger']>;
	private readonly sweepTimer: NodeJS.Timeout | undefined;
	private sweeping: Promise<void> | undefined;
	private sweepFailing = false;

	constructor(options: PrismaRateLimitStoreOptions) {
		const {windowMs, limit, prefix} = checkStoreOptions(options);
		const {prisma, now = Date.now, cleanupIntervalMs = 60_000, logger = console} = options;
		if (typeof cleanupIntervalMs !== 'number') {
			throw new TypeError(`Expected \`cleanupIntervalMs\` to be a number of milliseconds, got \`${typeof cleanupIntervalMs}\``);
		}

		// Past 2^31 − 1 ms, setInterval fires every millisecond instead.
		if (!Number.isFinite(cleanupIntervalMs) || cleanupIntervalMs < 0 || cleanupIntervalMs > 2_147_483_647) {
			throw new RangeError(`Expected \`cleanupIntervalMs\` to be a number of milliseconds from 0 (off) to 2147483647, got \`${String(cleanupIntervalMs)}\``);
		}

		if (prisma === null || typeof prisma !== 'object' || typeof prisma.$queryRaw !== 'function') {
			throw new TypeError('Expected `prisma` to be a Prisma client');
		}

		if (typeof now !== 'function') {
			throw new TypeError('Expected `now` to be a function');
		}

		this.windowMs = windowMs;
		this.limit = limit;
		this.prefix = prefix;
		this.prisma = prisma;
		this.now = now;
		this.logger = logger;
		if (cleanupIntervalMs > 0) {
			this.sweepTimer = setInterval(() => {
				this.sweep();
			}, cleanupIntervalMs);
			// The sweep is housekeeping: it must never keep a process alive.
			this.sweepTimer.unref();
		}
	}

	/**
	Delete the rows whose window has ended, in batches of `deleteBatchSize`, and resolve with how many went. Expired rows
	count as absent anyway (an increment restarts them at 1), so this only frees space: every prefix sharing the table is
	swept.
	*/
	async deleteExpired(): Promise<number> {
		const now = this.now();
		let total = 0;
		for (;;) {
			// eslint-disable-next-line no-await-in-loop
			const deleted = await this.prisma.$executeRaw`
				DELETE FROM "rate_limit_hits" WHERE "key" IN (
					SELECT "key" FROM "rate_limit_hits" WHERE "reset_at" <= ${now} LIMIT ${deleteBatchSize}
				)`;
			total += deleted;
			// Anything but a full batch (fewer rows, or a driver that counts nothing) means the table is done.
			if (!(deleted >= deleteBatchSize)) {
				return total;
			}
		}
	}

	/** Stop the background sweep, and wait for one that is running. */
	async close(): Promise<void> {
		clearInterval(this.sweepTimer);
		await this.sweeping;
	}

	/** One background sweep; skipped while the previous one runs. Never rejects: failures are logged once per streak. */
	private sweep(): void {
		if (this.sweeping) {
			return;
		}

		this.sweeping = this.deleteExpired().then(() => {
			if (this.sweepFailing) {
				this.sweepFailing = false;
				this.logger.info('[rate-limit] Expired-row cleanup works again.');
			}
		}, (error: unknown) => {
			if (!this.sweepFailing) {
				this.sweepFailing = true;
				this.logger.warn('[rate-limit] Expired-row cleanup failed; it retries on its interval.', error);
			}
		}).finally(() => {
			this.sweeping = undefined;
		});
	}

	init(options: MiddlewareOptions): void {
		this.windowMs = windowFromMiddleware(options);
	}

	/**
	Count a hit. `known` is what Redis last answered for this key (fallback-store.ts passes it during an outage): the
	count goes on from there instead of from zero, and several processes handing over their own last answers add up to
	Redis's count, not to their sum. `synced` keeps how much of the row Redis already has.
	*/
	async increment(key: string, known?: Pick<HandedCount, 'totalHits' | 'resetTime'>): Promise<ClientRateLimitInfo> {
		const id = this.prefix + checkKey(key);
		const now = this.now();
		const live = known !== undefined && known.resetTime.getTime() > now;
		const floor = live ? known.totalHits : 0;
		const resetAt = live ? known.resetTime.getTime() : now + this.windowMs;
		// Every right-hand side reads the row as it was (SQL evaluates SET against the old row).
		const rows = await this.prisma.$queryRaw<Row[]>`
			INSERT INTO "rate_limit_hits" ("key", "hits", "synced", "reset_at") VALUES (${id}, ${floor + 1}, ${floor}, ${resetAt})
			ON CONFLICT ("key") DO UPDATE SET
				"hits" = CASE
					WHEN "rate_limit_hits"."reset_at" <= ${now} THEN excluded."hits"
					WHEN excluded."synced" > "rate_limit_hits"."synced"
						THEN "rate_limit_hits"."hits" + 1 + excluded."synced" - "rate_limit_hits"."synced"
					ELSE "rate_limit_hits"."hits" + 1 END,
				"synced" = CASE
					WHEN "rate_limit_hits"."reset_at" <= ${now} OR excluded."synced" > "rate_limit_hits"."synced" THEN excluded."synced"
					ELSE "rate_limit_hits"."synced" END,
				"reset_at" = CASE WHEN "rate_limit_hits"."reset_at" <= ${now} THEN excluded."reset_at" ELSE "rate_limit_hits"."reset_at" END
			RETURNING "hits", "reset_at"`;
		const [row] = rows;
		if (!row) {
			throw new Error('Rate-limit upsert returned no row');
		}

		return {totalHits: Number(row.hits), resetTime: new Date(Number(row.reset_at))};
	}

	/**
	Take up to `max` live rows of this store's prefix holding hits Redis does not have, marking them as handed over; keys
	come without the prefix. Each row goes to one caller even when several processes ask at once (the update only applies
	where `synced` is still what was read). Give them back with `returnUnsynced()` if they could not be delivered.
	*/
	async takeUnsynced(max = deleteBatchSize): Promise<HandedCount[]> {
		const prefix = this.prefix;
		const rows = await this.prisma.$queryRaw<UnsyncedRow[]>`
			SELECT "key", "hits", "synced", "reset_at" FROM "rate_limit_hits"
			WHERE "hits" > "synced" AND "reset_at" > ${this.now()}
				AND substr("key", 1, length(CAST(${prefix} AS TEXT))) = CAST(${prefix} AS TEXT)
			LIMIT ${max}`;
		const taken: HandedCount[] = [];
		for (const row of rows) {
			const hits = Number(row.hits);
			const synced = Number(row.synced);
			// eslint-disable-next-line no-await-in-loop
			const updated = await this.prisma.$executeRaw`
				UPDATE "rate_limit_hits" SET "synced" = ${hits} WHERE "key" = ${row.key} AND "synced" = ${synced}`;
			if (updated === 1) {
				taken.push({key: row.key.slice(prefix.length), totalHits: hits, synced, resetTime: new Date(Number(row.reset_at))});
			}
		}

		return taken;
	}

	/** Undo `takeUnsynced()` for counts that never reached Redis, so the next hand-over sends them again. */
	async returnUnsynced(counts: readonly HandedCount[]): Promise<void> {
		for (const {key, totalHits, synced} of counts) {
			// eslint-disable-next-line no-await-in-loop
			await this.prisma.$executeRaw`
				UPDATE "rate_limit_hits" SET "synced" = ${synced} WHERE "key" = ${this.prefix + key} AND "synced" = ${totalHits}`;
		}
	}

	async decrement(key: string): Promise<void> {
		const id = this.prefix + checkKey(key);
		await this.prisma.$executeRaw`
			UPDATE "rate_limit_hits" SET "hits" = "hits" - 1
			WHERE "key" = ${id} AND "hits" > 0 AND "reset_at" > ${this.now()}`;
	}

	async resetKey(key: string): Promise<void> {
		const id = this.prefix + checkKey(key);
		await this.prisma.$executeRaw`DELETE FROM "rate_limit_hits" WHERE "key" = ${id}`;
	}

	async get(key: string): Promise<ClientRateLimitInfo | undefined> {
		const id = this.prefix + checkKey(key);
		const rows = await this.prisma.$queryRaw<Row[]>`
			SELECT "hits", "reset_at" FROM "rate_limit_hits" WHERE "key" = ${id} AND "reset_at" > ${this.now()}`;
		const [row] = rows;
		return row ? {totalHits: Number(row.hits), resetTime: new Date(Number(row.reset_at))} : undefined;
	}

	/** Count a hit and decide against `limit` (for use without express-rate-limit). */
	async consume(key: string): Promise<ConsumeResult> {
		return toConsumeResult(await this.increment(key), this.limit);
	}
}
