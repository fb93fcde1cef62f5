import type {ClientRateLimitInfo, Options as MiddlewareOptions, Store} from 'express-rate-limit';
import {
	checkKey, checkStoreOptions, consoleLogger, fromMiddleware, toConsumeResult,
	type ConsumeResult, type HandedCount, type RateLimitStoreOptions, type StoreLogger, type StoreRateLimitInfo,
} from './options.js';
import {
	emptyState, rules, ruleSettings, windowStart, type Algorithm, type AlgorithmSettings, type AlgorithmState,
} from './algorithms.js';
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

/** A sliding window's or token bucket's hit waiting for its statement: its settings and base taken when it was made. */
type PendingStateHit = {
	readonly id: string;
	readonly algorithm: Exclude<Algorithm, 'fixed-window'>;
	readonly settings: AlgorithmSettings;
	readonly base: AlgorithmState;
	readonly resolve: (info: StoreRateLimitInfo) => void;
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

type StateAlgorithm = Exclude<Algorithm, 'fixed-window'>;
type StateRow = {
	hits: number | bigint;
	level: number | bigint;
	previous_hits: number | bigint;
	since: number | bigint;
	known_level: number | bigint;
	known_previous: number | bigint;
};

const column = (name: string) => `"rate_limit_hits"."${name}"`;
const larger = (a: string, b: string) => `(CASE WHEN ${a} > ${b} THEN ${a} ELSE ${b} END)`;
const big = (expression: string) => `CAST(${expression} AS BIGINT)`;

/**
A sliding window's or token bucket's row at `now` (windows rolled, the bucket drained), as SQL expressions over the row
as it was: the same arithmetic as algorithms.ts and the Lua scripts, on integers. The row keeps two states in step: its
own (`level`, `previous_hits`), and the highest Redis state a process handed it (`known_level`, `known_previous`), its
base. Every number is the store's own (validated integers), written into the statement; only the key is a parameter.
*/
function rowAt(algorithm: StateAlgorithm, {now, windowMs, limit}: AlgorithmSettings) {
	if (algorithm === 'sliding-window') {
		const start = windowStart(now, windowMs);
		const live = `${column('since')} >= ${start}`;
		const adjacent = `${column('since')} = ${start - windowMs}`;
		const current = (name: string) => `(CASE WHEN ${live} THEN ${column(name)} ELSE 0 END)`;
		const previous = (name: string, of: string) =>
			`(CASE WHEN ${live} THEN ${column(name)} WHEN ${adjacent} THEN ${column(of)} ELSE 0 END)`;
		return {
			current: current('level'),
			previous: previous('previous_hits', 'level'),
			knownCurrent: current('known_level'),
			knownPrevious: previous('known_previous', 'known_level'),
			since: larger(column('since'), String(start)),
		};
	}

	// Past a whole window the bucket is empty: the product `elapsed × limit` is only taken within one.
	const elapsed = big(`${now} - ${column('since')}`);
	const drained = (name: string) => `(CASE WHEN ${column('since')} >= ${now} THEN ${column(name)} WHEN ${elapsed} >= ${windowMs} THEN 0 `
		+ `WHEN ${column(name)} > ${elapsed} * ${limit} THEN ${column(name)} - ${elapsed} * ${limit} ELSE 0 END)`;
	return {
		current: drained('level'),
		previous: '0',
		knownCurrent: drained('known_level'),
		knownPrevious: '0',
		since: larger(column('since'), String(now)),
	};
}

/**
The SET of a hit on a sliding window or token bucket, `known` (Redis's last state for the key, at `now`) handed with it
as the new row's base (`excluded`: each row of a statement has its own).
The row grows by what `known` has beyond its base (hits Redis counted that the row has not seen: another process's last
answer can be higher than this one's), so two processes handing their own last answers add up to Redis's count, as the
fixed window's `synced` does; then the hit is decided. `hits` keeps the answer (admitted when at most `limit`).
*/
function hitAssignments(algorithm: StateAlgorithm, settings: AlgorithmSettings): string {
	const {now, windowMs, limit} = settings;
	const at = rowAt(algorithm, settings);
	// `known`, at `now`, is what the statement's VALUES put in the new row's base and since: `excluded` then.
	const known = {current: 'excluded."known_level"', previous: 'excluded."known_previous"', since: 'excluded."since"'};
	const beyond = (mine: string, theirs: string) => `(CASE WHEN ${theirs} > ${mine} THEN ${theirs} - ${mine} ELSE 0 END)`;
	const current = `(${at.current} + ${beyond(at.knownCurrent, known.current)})`;
	const previous = `(${at.previous} + ${beyond(at.knownPrevious, known.previous)})`;
	const since = larger(at.since, known.since);
	const base = `"known_level" = ${larger(at.knownCurrent, known.current)},
		"known_previous" = ${larger(at.knownPrevious, known.previous)}, "since" = ${since}`;
	if (algorithm === 'sliding-window') {
		// The window's start or later (a row from a clock ahead): how much of the previous window still counts.
		const left = `(${windowMs} - (CASE WHEN ${since} > ${now} THEN 0 ELSE ${now} - ${since} END))`;
		const count = `((${big(previous)} * ${left} + ${windowMs - 1}) / ${windowMs} + ${current})`;
		return `"level" = ${current} + (CASE WHEN ${count} < ${limit} THEN 1 ELSE 0 END),
			"previous_hits" = ${previous}, ${base}, "hits" = ${count} + 1, "reset_at" = ${since} + ${2 * windowMs}`;
	}

	const room = `${current} <= ${(limit - 1) * windowMs}`;
	return `"level" = ${current} + (CASE WHEN ${room} THEN ${windowMs} ELSE 0 END), "previous_hits" = 0, ${base},
		"hits" = (CASE WHEN ${room} THEN (${current} + ${(2 * windowMs) - 1}) / ${windowMs} ELSE ${limit + 1} END),
		"reset_at" = ${since} + (${current} + (CASE WHEN ${room} THEN ${windowMs} ELSE 0 END) + ${limit - 1}) / ${limit}`;
}

const stateOf = (row: StateRow): AlgorithmState => ({
	current: Number(row.level), previous: Number(row.previous_hits), since: Number(row.since),
});

/** A tagged template's strings around one parameter, for SQL built here with the store's own numbers written in. */
const aroundKey = (before: string, after: string): TemplateStringsArray =>
	Object.assign([before, after], {raw: [before, after]}) as unknown as TemplateStringsArray;

// Taken when this module loads, so that a test that fakes the timers later does not hold the store's statements.
const nextTurn: (callback: () => void) => unknown = typeof setImmediate === 'function'
	? setImmediate
	: callback => setTimeout(callback, 0);

/**
The same fixed-window store on SQL through Prisma 7 (driver adapters, no engine binary), for when Redis is unavailable.
Each increment is one row of an `INSERT … ON CONFLICT DO UPDATE … RETURNING` statement — atomic under any
concurrency, no read-modify-write — and an expired window restarts at 1. The increments made in one turn of the event
loop go out together on the next, one row per key in one statement (a key's further hits in later ones, in order);
every other operation first sends the increments made before it. Runs on SQLite (3.35+) and PostgreSQL alike. With
`algorithm: 'sliding-window' | 'token-bucket'` each row holds that state instead (algorithms.ts), decided in the same
kind of statement with the same arithmetic as the Redis store's scripts, on the `now` clock.

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
	// The same for a sliding window's or token bucket's hits.
	private pendingStateHits: PendingStateHit[] = [];
	/** How hits are counted (`algorithm`). */
	readonly algorithm: Algorithm;

	constructor(options: PrismaRateLimitStoreOptions) {
		const {windowMs, limit, prefix, inMemoryBlock, inMemoryBlockKeys, algorithm} = checkStoreOptions(
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
		this.algorithm = algorithm;
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
	async increment(key: string, known?: Pick<HandedCount, 'totalHits' | 'resetTime' | 'state'>): Promise<StoreRateLimitInfo> {
		const id = this.prefix + checkKey(key);
		if (this.algorithm !== 'fixed-window') {
			return this.incrementState(id, this.algorithm, known?.state);
		}

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

	/** The settings of a sliding window or token bucket now (a RangeError without a numeric `limit`). */
	private settings(algorithm: Algorithm): AlgorithmSettings {
		return ruleSettings(algorithm, this.windowMs, this.limit, this.now());
	}

	/**
	A hit on a sliding window or token bucket: a row of an `INSERT … ON CONFLICT DO UPDATE … RETURNING` statement,
	decided in SQL on the row as it is (atomic under any concurrency), counting on first beyond `known` (Redis's last
	state for the key during an outage). Batched like the fixed window's hits: the ones of one turn go out together.
	*/
	private async incrementState(
		id: string, algorithm: StateAlgorithm, known: AlgorithmState | undefined,
	): Promise<StoreRateLimitInfo> {
		const settings = this.settings(algorithm);
		const blocked = this.overLimit?.hit(id, settings.now);
		if (blocked !== undefined) {
			return blocked;
		}

		const base = rules[algorithm].at(known ?? emptyState, settings);
		return new Promise((resolve, reject) => {
			const first = this.pendingStateHits.push({id, algorithm, settings, base, resolve, reject}) === 1;
			if (first && this.pendingHits.length === 0) {
				nextTurn(this.sendPendingHits);
			}
		});
	}

	/** `hits` in statements as `upsertInOrder()` makes them (same `now`, distinct keys, in order). */
	private async upsertStatesInOrder(hits: PendingStateHit[]): Promise<void> {
		let start = 0;
		while (start < hits.length) {
			const {now} = hits[start]!.settings;
			const ids = new Set<string>();
			let end = start;
			const fits = (hit: PendingStateHit) => hit.settings.now === now && !ids.has(hit.id);
			while (end < hits.length && end - start < maxRowsPerStatement && fits(hits[end]!)) {
				ids.add(hits[end]!.id);
				end++;
			}

			// eslint-disable-next-line no-await-in-loop
			await this.upsertStates(hits.slice(start, end));
			start = end;
		}
	}

	/** One statement for `hits` (distinct keys, one `now`); settles each. Never rejects. */
	private async upsertStates(hits: PendingStateHit[]): Promise<void> {
		const rows = hits.length === 1 ? hits : [...hits].sort((a, b) => a.id < b.id ? -1 : (a.id > b.id ? 1 : 0));
		const {algorithm, settings} = rows[0]!;
		const rule = rules[algorithm];
		// Each row as a new key would have it: its known state as its base, then the hit; only the key is a parameter.
		const valuesOf = ({base}: PendingStateHit) => {
			const {totalHits, expiresAt, state} = rule.hit(base, settings);
			return `, ${totalHits}, 0, ${expiresAt}, ${state.current}, ${state.previous}, ${state.since}, ${base.current}, ${base.previous})`;
		};

		const strings = ['INSERT INTO "rate_limit_hits" ("key", "hits", "synced", "reset_at", "level", "previous_hits", "since", "known_level", "known_previous") VALUES ('];
		for (const [index, row] of rows.entries()) {
			strings.push(index < rows.length - 1 ? `${valuesOf(row)}, (` : `${valuesOf(row)}
			ON CONFLICT ("key") DO UPDATE SET ${hitAssignments(algorithm, settings)}
			RETURNING "key", "hits", "level", "previous_hits", "since"`);
		}

		let upserted: Array<StateRow & {key: string}>;
		try {
			const statement = Object.assign(strings, {raw: strings}) as unknown as TemplateStringsArray;
			const reply: unknown = await this.prisma.$queryRaw(statement, ...rows.map(row => row.id));
			upserted = Array.isArray(reply) ? reply as Array<StateRow & {key: string}> : [];
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

			const {totalHits, resetTime, state} = rule.answer(stateOf(row), Number(row.hits) <= settings.limit, settings);
			const reset = new Date(resetTime);
			this.overLimit?.note(hit.id, totalHits, settings.limit, resetTime, reset);
			hit.resolve({totalHits, resetTime: reset, state});
		}
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

		if (this.pendingStateHits.length > 0) {
			const hits = this.pendingStateHits;
			this.pendingStateHits = [];
			await this.upsertStatesInOrder(hits);
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
		if (this.algorithm !== 'fixed-window') {
			await this.pendingHitsSent();
			return this.takeUnsyncedStates(max);
		}

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

	/**
	A sliding window's or token bucket's `takeUnsynced()`: the live rows with hits beyond their base (counted here, not
	in Redis), each with its whole state, their base then raised to it (only if the row is unchanged since read: each
	row goes to one caller). Redis merges them with its own (the larger count of each), so a state handed twice, late,
	or by two processes counts once.
	*/
	private async takeUnsyncedStates(max: number): Promise<HandedCount[]> {
		const prefix = this.prefix;
		const rows = await this.prisma.$queryRaw<Array<StateRow & {key: string; reset_at: number | bigint}>>`
			SELECT "key", "hits", "level", "previous_hits", "since", "known_level", "known_previous", "reset_at"
			FROM "rate_limit_hits"
			WHERE ("level" <> "known_level" OR "previous_hits" <> "known_previous") AND "reset_at" > ${this.now()}
				AND substr("key", 1, length(CAST(${prefix} AS TEXT))) = CAST(${prefix} AS TEXT)
			LIMIT ${max}`;
		const taken: HandedCount[] = [];
		for (const row of rows) {
			const state = stateOf(row);
			const base = {current: Number(row.known_level), previous: Number(row.known_previous), since: state.since};
			// eslint-disable-next-line no-await-in-loop
			const updated = await this.prisma.$executeRaw`
				UPDATE "rate_limit_hits" SET "known_level" = "level", "known_previous" = "previous_hits"
				WHERE "key" = ${row.key} AND "level" = ${state.current} AND "previous_hits" = ${state.previous}
					AND "since" = ${state.since} AND "known_level" = ${base.current} AND "known_previous" = ${base.previous}`;
			if (updated === 1) {
				const resetTime = new Date(Number(row.reset_at));
				taken.push({key: row.key.slice(prefix.length), totalHits: Number(row.hits), synced: 0, resetTime, state, base});
			}
		}

		return taken;
	}

	/** Undo `takeUnsynced()` for counts that never reached Redis, so the next hand-over sends them again. */
	async returnUnsynced(counts: readonly HandedCount[]): Promise<void> {
		if (this.algorithm !== 'fixed-window') {
			await this.pendingHitsSent();
			for (const {key, state, base} of counts) {
				// Only where nothing changed since: the row's own base again, so the next hand-over sends its hits again.
				// eslint-disable-next-line no-await-in-loop
				await this.prisma.$executeRaw`
					UPDATE "rate_limit_hits" SET "known_level" = ${base?.current ?? 0}, "known_previous" = ${base?.previous ?? 0}
					WHERE "key" = ${this.prefix + key} AND "since" = ${state?.since ?? 0}
						AND "known_level" = "level" AND "known_previous" = "previous_hits"`;
			}

			return;
		}

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

		if (this.algorithm !== 'fixed-window') {
			await this.pendingHitsSent();
			const settings = this.settings(this.algorithm);
			const at = rowAt(this.algorithm, settings);
			const taken = this.algorithm === 'sliding-window' ? 1 : settings.windowMs;
			// The base stays at most the state: a hit taken back that Redis had is no longer Redis's either.
			const level = `(CASE WHEN ${at.current} > ${taken} THEN ${at.current} - ${taken} ELSE 0 END)`;
			await this.prisma.$executeRaw(aroundKey(
				`UPDATE "rate_limit_hits" SET "level" = ${level}, "previous_hits" = ${at.previous},
					"known_level" = (CASE WHEN ${at.knownCurrent} > ${level} THEN ${level} ELSE ${at.knownCurrent} END),
					"known_previous" = ${at.knownPrevious}, "since" = ${at.since} WHERE "key" = `,
				` AND "reset_at" > ${settings.now}`,
			), id);
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

		if (this.algorithm !== 'fixed-window') {
			await this.pendingHitsSent();
			const settings = this.settings(this.algorithm);
			const [state] = await this.prisma.$queryRaw<StateRow[]>`
				SELECT "hits", "level", "previous_hits", "since" FROM "rate_limit_hits" WHERE "key" = ${id} AND "reset_at" > ${settings.now}`;
			if (state === undefined) {
				return undefined;
			}

			const {totalHits, resetTime} = rules[this.algorithm].peek(stateOf(state), settings);
			return {totalHits, resetTime: new Date(resetTime)};
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
