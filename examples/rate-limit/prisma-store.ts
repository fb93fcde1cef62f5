import type {ClientRateLimitInfo, Options as MiddlewareOptions, Store} from 'express-rate-limit';
import {
	checkKey, checkStoreOptions, consoleLogger, fromMiddleware, toConsumeResult,
	type ConsumeResult, type HandedCount, type RateLimitStoreOptions, type StoreLogger,
} from './options.js';
import {rateLimitMigrations, type PrismaProvider} from './migrations.js';
import {OverLimitKeys} from './over-limit.js';

export type {PrismaProvider} from './migrations.js';

/**
The part of a Prisma 7 client the store uses: raw SQL only, so any `PrismaClient` has it — your app's own (whatever its
schema, adapter and generator), as well as this repository's example clients (prisma-clients.ts).
*/
export type PrismaRawClient = {
	$queryRaw<T = unknown>(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<T>;
	$executeRaw(query: TemplateStringsArray, ...values: unknown[]): PromiseLike<number>;
	$executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
};

export type PrismaRateLimitStoreOptions = RateLimitStoreOptions & {
	prisma: PrismaRawClient;
	/** The clock, in ms since the epoch (tests move it to end a window). @default Date.now */
	now?: () => number;
	/**
	How often a background sweep deletes expired rows (`deleteExpired()`), in ms; `0` turns it off. The timer is
	`unref`'d, a sweep is skipped while the previous one still runs, and `close()` stops it. @default 60_000
	*/
	cleanupIntervalMs?: number;
	/**
	Receives one line when sweeps start failing (with the error) and one when they work again. @default the console, one
	line each
	*/
	logger?: StoreLogger;
};

/** Rows deleted per statement by `deleteExpired()`: short statements, so a huge table is never locked for long. */
export const deleteBatchSize = 1000;

/**
Create or update the rate-limit table: runs the SQL of migrations.ts for `provider`, oldest first, through the client
you pass (your own `PrismaClient` will do; its driver adapter's `provider` is the second argument). Safe to call at
every start: each statement is idempotent. Prisma 7's `migrate`/`db push` need a native schema engine; plain SQL through
the client does not. If `prisma migrate` manages your database, make the table a migration of yours instead (the
`RateLimitHit` model gives the same SQL) and skip this.
*/
export async function applyRateLimitMigrations(prisma: PrismaRawClient, provider: PrismaProvider): Promise<void> {
	if (typeof provider !== 'string') {
		throw new TypeError(`Expected \`provider\` to be 'sqlite' or 'postgres', got \`${provider === null ? 'null' : typeof provider}\``);
	}

	if (!Object.hasOwn(rateLimitMigrations, provider)) {
		throw new RangeError(`Expected \`provider\` to be 'sqlite' or 'postgres', got \`${provider}\``);
	}

	for (const {sql} of rateLimitMigrations[provider]) {
		try {
			// eslint-disable-next-line no-await-in-loop
			await prisma.$executeRawUnsafe(sql);
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
type UpsertedRow = Row & {key: string};

/** A hit waiting for its statement (`increment()`): its row's values, worked out when it was made. */
type PendingHit = {
	readonly id: string;
	readonly now: number;
	readonly floor: number;
	readonly resetAt: number;
	readonly resolve: (info: ClientRateLimitInfo) => void;
	readonly reject: (error: unknown) => void;
};

// Rows per statement: 4 parameters each and 3 for `now`, within SQLite's oldest limit of 999 parameters.
const maxRowsPerStatement = 100;

// The increment, for any number of rows: one `INSERT … VALUES (…), (…) ON CONFLICT DO UPDATE … RETURNING` statement.
// Every right-hand side reads the row as it was (SQL evaluates SET against the old row). Rows are independent: each has
// its own key (a key's next hit goes in a later statement).
const upsertHead = 'INSERT INTO "rate_limit_hits" ("key", "hits", "synced", "reset_at") VALUES (';
const upsertTail = [
	`)
	ON CONFLICT ("key") DO UPDATE SET
		"hits" = CASE
			WHEN "rate_limit_hits"."reset_at" <= `,
	` THEN excluded."hits"
			WHEN excluded."synced" > "rate_limit_hits"."synced"
				THEN "rate_limit_hits"."hits" + 1 + excluded."synced" - "rate_limit_hits"."synced"
			ELSE "rate_limit_hits"."hits" + 1 END,
		"synced" = CASE
			WHEN "rate_limit_hits"."reset_at" <= `,
	` OR excluded."synced" > "rate_limit_hits"."synced" THEN excluded."synced"
			ELSE "rate_limit_hits"."synced" END,
		"reset_at" = CASE WHEN "rate_limit_hits"."reset_at" <= `,
	` THEN excluded."reset_at" ELSE "rate_limit_hits"."reset_at" END
	RETURNING "key", "hits", "reset_at"`,
];
const upsertStatements: TemplateStringsArray[] = [];

/** The statement for `rows` rows, as the strings of a tagged template (Prisma puts each value in as a parameter). */
function upsertStatement(rows: number): TemplateStringsArray {
	let statement = upsertStatements[rows];
	if (statement === undefined) {
		const strings = [upsertHead];
		for (let row = 0; row < rows; row++) {
			strings.push(', ', ', ', ', ');
			if (row < rows - 1) {
				strings.push('), (');
			}
		}

		strings.push(...upsertTail);
		statement = Object.assign(strings, {raw: strings}) as unknown as TemplateStringsArray;
		upsertStatements[rows] = statement;
	}

	return statement;
}

// Taken when this module loads, so that a test that fakes the timers later does not hold the store's statements.
const nextTurn: (callback: () => void) => unknown = typeof setImmediate === 'function'
	? setImmediate
	: callback => setTimeout(callback, 0);

/**
The same fixed-window store on SQL through Prisma 7 (driver adapters, no engine binary), for when Redis is unavailable.
Each increment is one row of an `INSERT … ON CONFLICT DO UPDATE … RETURNING` statement — atomic under any
concurrency, no read-modify-write — and an expired window restarts at 1. The increments made in one turn of the event
loop go out together on the next, one row per key in one statement (a key's further hits in later ones, in order);
every other operation first sends the increments made before it. Runs on SQLite (3.35+) and PostgreSQL alike.

@example
```
import {PrismaBetterSqlite3} from '@prisma/adapter-better-sqlite3';
import {PrismaClient} from '../generated/prisma/client.js'; // your own client, its schema with the RateLimitHit model

const prisma = new PrismaClient({adapter: new PrismaBetterSqlite3({url: 'file:./dev.db'})});
await applyRateLimitMigrations(prisma, 'sqlite');
const store = new PrismaRateLimitStore({prisma, windowMs: 60_000});
```
*/
export class PrismaRateLimitStore implements Store {
	readonly prefix: string;
	readonly localKeys = false;
	windowMs: number;
	limit: number;
	private readonly prisma: PrismaRawClient;
	private readonly overLimit: OverLimitKeys | undefined;
	private readonly now: () => number;
	private readonly logger: NonNullable<PrismaRateLimitStoreOptions['logger']>;
	private readonly sweepTimer: NodeJS.Timeout | undefined;
	private sweeping: Promise<void> | undefined;
	private sweepFailing = false;
	// Hits made since the last statements went out; they go out together on the event loop's next turn.
	private pendingHits: PendingHit[] = [];

	constructor(options: PrismaRateLimitStoreOptions) {
		const {windowMs, limit, prefix, inMemoryBlock, inMemoryBlockKeys} = checkStoreOptions(
			options, ['prisma', 'now', 'cleanupIntervalMs', 'logger'],
		);
		// The clock read at each call: jest's fake timers installed after construction are followed too.
		const {prisma, now = () => Date.now(), cleanupIntervalMs = 60_000, logger = consoleLogger} = options;
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
		this.overLimit = inMemoryBlock ? new OverLimitKeys(inMemoryBlockKeys) : undefined;
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

	/**
	Stop the background sweep (and wait for one that is running), and forget the keys answered from memory. The Prisma
	client stays open, and the counts stay in the database for the other processes: unlike express-rate-limit's
	`MemoryStore`, `shutdown()` resets nothing.
	*/
	async shutdown(): Promise<void> {
		clearInterval(this.sweepTimer);
		this.overLimit?.clear();
		await this.sweeping;
	}

	/** Delete every row of this store (its `prefix`), live or expired, and forget the keys answered from memory. */
	async resetAll(): Promise<void> {
		this.overLimit?.clear();
		const prefix = this.prefix;
		await this.pendingHitsSent();
		await this.prisma.$executeRaw`
			DELETE FROM "rate_limit_hits" WHERE substr("key", 1, length(CAST(${prefix} AS TEXT))) = CAST(${prefix} AS TEXT)`;
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
		({windowMs: this.windowMs, limit: this.limit} = fromMiddleware(options, this.limit));
	}

	/**
	Count a hit. `known` is what Redis last answered for this key (fallback-store.ts passes it during an outage): the
	count goes on from there instead of from zero, and several processes handing over their own last answers add up to
	Redis's count, not to their sum. `synced` keeps how much of the row Redis already has. Sent on the event loop's next
	turn, with the other hits made in this one.
	*/
	async increment(key: string, known?: Pick<HandedCount, 'totalHits' | 'resetTime'>): Promise<ClientRateLimitInfo> {
		const id = this.prefix + checkKey(key);
		const now = this.now();
		const blocked = this.overLimit?.hit(id, now);
		if (blocked !== undefined) {
			return blocked;
		}

		const live = known !== undefined && known.resetTime.getTime() > now;
		const floor = live ? known.totalHits : 0;
		const resetAt = live ? known.resetTime.getTime() : now + this.windowMs;
		return new Promise((resolve, reject) => {
			// The hits of one turn of the event loop (the requests that arrived together) go out as one statement of many
			// rows: a statement's own cost through Prisma (~70 µs of CPU with SQLite) is most of a hit's, and during an
			// outage every request that is still under its limit pays it (`npm run bench:outage`, at startup).
			if (this.pendingHits.push({id, now, floor, resetAt, resolve, reject}) === 1) {
				nextTurn(this.sendPendingHits);
			}
		});
	}

	private readonly sendPendingHits = (): void => {
		void this.pendingHitsSent();
	};

	/**
	Send the hits waiting for the next turn now, and resolve once they are counted (never rejects: each hit settles on
	its own). Every other operation on rows awaits this first, so that it never overtakes a hit made before it.
	*/
	private async pendingHitsSent(): Promise<void> {
		if (this.pendingHits.length > 0) {
			const hits = this.pendingHits;
			this.pendingHits = [];
			await this.upsertInOrder(hits);
		}
	}

	/**
	`hits` in statements of consecutive hits made at the same `now` (so each row is decided as its own statement would
	have) with distinct keys, one statement after the other: a key's hits are counted in the order they were made.
	*/
	private async upsertInOrder(hits: PendingHit[]): Promise<void> {
		let start = 0;
		while (start < hits.length) {
			const {now} = hits[start]!;
			const ids = new Set<string>();
			let end = start;
			while (end < hits.length && end - start < maxRowsPerStatement && hits[end]!.now === now && !ids.has(hits[end]!.id)) {
				ids.add(hits[end]!.id);
				end++;
			}

			// eslint-disable-next-line no-await-in-loop
			await this.upsert(hits.slice(start, end), now);
			start = end;
		}
	}

	/** One statement for `hits` (distinct keys); settles each. Never rejects. */
	private async upsert(hits: PendingHit[], now: number): Promise<void> {
		// In key order: on PostgreSQL two processes' statements then lock the rows they share in the same order.
		const rows = hits.length === 1 ? hits : [...hits].sort((a, b) => a.id < b.id ? -1 : (a.id > b.id ? 1 : 0));
		const values: unknown[] = [];
		for (const {id, floor, resetAt} of rows) {
			values.push(id, floor + 1, floor, resetAt);
		}

		values.push(now, now, now);
		let upserted: UpsertedRow[];
		try {
			const reply: unknown = await this.prisma.$queryRaw<UpsertedRow[]>(upsertStatement(rows.length), ...values);
			upserted = Array.isArray(reply) ? reply as UpsertedRow[] : [];
		} catch (error) {
			for (const hit of hits) {
				hit.reject(error);
			}

			return;
		}

		for (const hit of hits) {
			const row = hits.length === 1 ? upserted[0] : upserted.find(each => each.key === hit.id);
			if (row === undefined) {
				hit.reject(new Error('Rate-limit upsert returned no row'));
				continue;
			}

			const totalHits = Number(row.hits);
			const windowEnd = Number(row.reset_at);
			const resetTime = new Date(windowEnd);
			this.overLimit?.note(hit.id, totalHits, this.limit, windowEnd, resetTime);
			hit.resolve({totalHits, resetTime});
		}
	}

	/**
	Take up to `max` live rows of this store's prefix holding hits Redis does not have, marking them as handed over; keys
	come without the prefix. Each row goes to one caller even when several processes ask at once (the update only applies
	where `synced` is still what was read). Give them back with `returnUnsynced()` if they could not be delivered.
	*/
	async takeUnsynced(max = deleteBatchSize): Promise<HandedCount[]> {
		const prefix = this.prefix;
		await this.pendingHitsSent();
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
		await this.pendingHitsSent();
		for (const {key, totalHits, synced} of counts) {
			// eslint-disable-next-line no-await-in-loop
			await this.prisma.$executeRaw`
				UPDATE "rate_limit_hits" SET "synced" = ${synced} WHERE "key" = ${this.prefix + key} AND "synced" = ${totalHits}`;
		}
	}

	async decrement(key: string): Promise<void> {
		const id = this.prefix + checkKey(key);
		if (this.overLimit?.takeBack(id)) {
			return;
		}

		await this.pendingHitsSent();
		await this.prisma.$executeRaw`
			UPDATE "rate_limit_hits" SET "hits" = "hits" - 1
			WHERE "key" = ${id} AND "hits" > 0 AND "reset_at" > ${this.now()}`;
	}

	async resetKey(key: string): Promise<void> {
		const id = this.prefix + checkKey(key);
		this.overLimit?.forget(id);
		await this.pendingHitsSent();
		await this.prisma.$executeRaw`DELETE FROM "rate_limit_hits" WHERE "key" = ${id}`;
	}

	async get(key: string): Promise<ClientRateLimitInfo | undefined> {
		const id = this.prefix + checkKey(key);
		const blocked = this.overLimit?.peek(id, this.now());
		if (blocked !== undefined) {
			return blocked;
		}

		await this.pendingHitsSent();
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
