/*
Abuse (issue 31): a few clients hammering far past their limit while many others stay under it. 90 % of the requests
come from 10 keys far over their limit, 10 % from 10,000 keys under it, drawn per request (bench/abuse-keys.mjs; the
limiter keys on the `x-client-key` header). One private redis-server for this section: its commands are counted by the
server (`CONFIG RESETSTAT` before each round, `INFO commandstats` after it).

- HTTP: Express + express-rate-limit (the same options, headers and 429 for every store) under autocannon in a child
  process (bench/abuse-load-child.mjs), interleaved rounds, the median: ours (FallbackRateLimitStore over the guarded
  Redis store, as apps use it, and the Redis store alone), rate-limit-redis, rate-limiter-flexible `RateLimiterRedis`
  with `inMemoryBlockOnConsumed` (as an express-rate-limit store, bench/peer-stores.ts; and once more behind its own
  bare middleware, for what express-rate-limit itself costs), and express-rate-limit's MemoryStore.
- Store level (no HTTP): the same mix of keys, each store's own call (`increment()`, rate-limiter-flexible's
  `consume()`), 64 at a time, a fixed number of calls per round (so every store sees the same keys as often).

Both count, per key, the hits each store admitted against the limit: the window (15 minutes) outlasts the section, so
every admitted hit past `limit` for a key is one over the limit. The hot keys are driven past their limit in a warm-up
before the rounds: what is measured is an abuse in progress.
*/
import {execFile} from 'node:child_process';
import {mkdirSync, writeFileSync} from 'node:fs';
import type {Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import express, {type RequestHandler} from 'express';
import {MemoryStore, rateLimit, type ClientRateLimitInfo, type Options as MiddlewareOptions, type Store} from 'express-rate-limit';
import {Redis} from 'ioredis';
import {RedisStore as RateLimitRedisStore} from 'rate-limit-redis';
import {RateLimiterRedis, RateLimiterRes} from 'rate-limiter-flexible';
import * as vega from 'vega';
import {compile, type TopLevelSpec} from 'vega-lite';
import {guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore} from '../examples/rate-limit/fallback-store.js';
import type {RateLimitPrisma} from '../examples/rate-limit/prisma-clients.js';
import {PrismaRateLimitStore} from '../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../examples/rate-limit/redis-store.js';
import {RedisServer} from '../__tests__/servers/redis-server.js';
import {isHotKey, keyDraw} from './abuse-keys.mjs';
import {RateLimiterFlexibleStore, rateLimiterFlexibleMiddleware} from './peer-stores.js';

const run = promisify(execFile);
const loadChild = fileURLToPath(new URL('abuse-load-child.mjs', import.meta.url));

export type AbuseOptions = {
	/** The fallback store's database (SQLite in a temporary folder, made by bench.ts): idle while Redis answers. */
	prisma: RateLimitPrisma;
	quick: boolean;
	/** Where the chart goes. */
	chartsDir: string;
	progress(text: string): void;
	median(values: number[]): number;
};

// express-rate-limit's README example: 100 requests per 15 minutes. The window outlasts the section.
const limit = 100;
const windowMs = 15 * 60_000;
const mix = {hotKeys: 10, coldKeys: 10_000, hotShare: 0.9};
const connections = 50;
const concurrency = 64;

const quietLogger = {warn() {}, info() {}};
const keyOf = (request: express.Request) => request.get('x-client-key') ?? 'none';

/** How often the server ran each command, without the bench's own `CONFIG RESETSTAT` and `INFO`. */
type CommandCounts = Record<string, number>;

// The stores send scripts only (EVAL/EVALSHA, and SCRIPT LOAD), one round trip each; the commands a script runs inside
// Redis are counted by the server too, and kept apart.
const sentByClients = /^(eval|evalsha|eval_ro|evalsha_ro|fcall|fcall_ro|script\|.*)$/;

async function readCommands(admin: Redis): Promise<CommandCounts> {
	const info = await admin.info('commandstats');
	const counts: CommandCounts = {};
	for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
		if (name !== 'config|resetstat' && name !== 'info') {
			counts[name!] = Number(calls);
		}
	}

	return counts;
}

function addCounts(into: CommandCounts, counts: CommandCounts): void {
	for (const [name, calls] of Object.entries(counts)) {
		into[name] = (into[name] ?? 0) + calls;
	}
}

/** Client commands (round trips) and every command the server ran, script internals included. */
function commandTotals(counts: CommandCounts): {sent: number; executed: number} {
	let sent = 0;
	let executed = 0;
	for (const [name, calls] of Object.entries(counts)) {
		executed += calls;
		if (sentByClients.test(name)) {
			sent += calls;
		}
	}

	return {sent, executed};
}

/** Hits admitted per key, against `limit`: the hot keys' share and the hits past the limit. */
class Admissions {
	private readonly admitted = new Map<string, number>();

	admit(key: string): void {
		this.admitted.set(key, (this.admitted.get(key) ?? 0) + 1);
	}

	/** Hits admitted past `limit`, summed over the keys (the window outlasts the section). */
	get overLimit(): number {
		let over = 0;
		for (const count of this.admitted.values()) {
			over += Math.max(0, count - limit);
		}

		return over;
	}

	/** Hits admitted for the hot keys: `limit` each when a store counts exactly. */
	get hot(): number {
		let hot = 0;
		for (const [key, count] of this.admitted) {
			if (isHotKey(key)) {
				hot += count;
			}
		}

		return hot;
	}
}

/** Hits made per key (admitted or not): the busiest cold key must stay under the limit, or the mix is not the mix. */
class Hits {
	private readonly hits = new Map<string, number>();

	hit(key: string): void {
		this.hits.set(key, (this.hits.get(key) ?? 0) + 1);
	}

	get busiestColdKey(): number {
		let busiest = 0;
		for (const [key, count] of this.hits) {
			if (!isHotKey(key) && count > busiest) {
				busiest = count;
			}
		}

		return busiest;
	}
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

// --- The candidates -------------------------------------------------------------------------------------------------

type Made = {
	/** The store, or for rate-limiter-flexible's own middleware none (its `handler` replaces express-rate-limit). */
	store?: Store;
	handler?: RequestHandler;
	/** Count one hit at store level: whether it was admitted (a refusal is an answer, not an error). */
	call(key: string): Promise<boolean>;
	close?(): Promise<void> | void;
};

type Candidate = {
	label: string;
	/** The label at store level, when the call there differs from what the HTTP row runs. */
	storeLabel?: string;
	ours: boolean;
	/** Not a store: measured over HTTP only. */
	httpOnly?: boolean;
	/**
	Its answers at store level say nothing about admissions: MemoryStore hands out its live count object, which later
	hits have moved on by the time a caller 64 at a time reads it.
	*/
	admissionsUnknownAtStoreLevel?: boolean;
	make(port: number, prefix: string, prisma: RateLimitPrisma): Made;
};

function newClient(port: number): Redis {
	// What the rate-limit store asks for (it warns otherwise); no effect while the connection stays up.
	const client = new Redis({port, host: '127.0.0.1', autoResendUnfulfilledCommands: false});
	client.on('error', () => undefined);
	return client;
}

const withinLimit = (info: ClientRateLimitInfo) => info.totalHits <= limit;

/** An express-rate-limit store's hit at store level: admitted when its count is within the limit. */
const incrementOn = (store: {increment(key: string): Promise<ClientRateLimitInfo> | ClientRateLimitInfo}) =>
	async (key: string) => Promise.resolve(store.increment(key)).then(withinLimit);

function flexibleLimiter(client: Redis, prefix: string): RateLimiterRedis {
	// Blocked in memory from the hit that uses its last point: every refused hit after it costs no Redis call.
	return new RateLimiterRedis({
		storeClient: client, keyPrefix: prefix, points: limit, duration: windowMs / 1000, inMemoryBlockOnConsumed: limit,
	});
}

export const candidates: Record<string, Candidate> = {
	ours: {
		label: 'ours: FallbackRateLimitStore (guarded Redis store → Prisma SQLite, idle)',
		ours: true,
		make(port, prefix, prisma) {
			const client = newClient(port);
			const store = new FallbackRateLimitStore(
				new RedisRateLimitStore({redis: guardedRedis(client), windowMs, limit, prefix}),
				new PrismaRateLimitStore({prisma, windowMs, limit, prefix, cleanupIntervalMs: 0}),
				{logger: quietLogger},
			);
			return {store, call: incrementOn(store), close: () => client.disconnect()};
		},
	},
	oursRedis: {
		label: 'ours: RedisRateLimitStore alone',
		ours: true,
		make(port, prefix) {
			const client = newClient(port);
			const store = new RedisRateLimitStore({redis: guardedRedis(client), windowMs, limit, prefix});
			return {store, call: incrementOn(store), close: () => client.disconnect()};
		},
	},
	rateLimitRedis: {
		label: 'rate-limit-redis 6',
		ours: false,
		make(port, prefix) {
			const client = newClient(port);
			const store = new RateLimitRedisStore({
				sendCommand: async (command: string, ...arguments_: string[]) => client.call(command, ...arguments_) as never,
				prefix,
			});
			void store.init({windowMs} as MiddlewareOptions);
			return {store, call: incrementOn(store), close: () => client.disconnect()};
		},
	},
	rateLimiterFlexible: {
		label: 'rate-limiter-flexible 11 RateLimiterRedis, inMemoryBlockOnConsumed (as an express-rate-limit store)',
		storeLabel: 'rate-limiter-flexible 11 RateLimiterRedis, inMemoryBlockOnConsumed (`consume()`)',
		ours: false,
		make(port, prefix) {
			const client = newClient(port);
			const limiter = flexibleLimiter(client, prefix);
			return {
				store: new RateLimiterFlexibleStore(limiter, prefix),
				// Its own call: a refusal is a rejection with a RateLimiterRes.
				call: async key => limiter.consume(key).then(() => true, (rejection: unknown) => {
					if (rejection instanceof RateLimiterRes) {
						return false;
					}

					throw rejection;
				}),
				close: () => client.disconnect(),
			};
		},
	},
	rateLimiterFlexibleOwnMiddleware: {
		label: 'rate-limiter-flexible, the same, behind its own bare middleware (no headers, no body: not comparable)',
		ours: false,
		httpOnly: true,
		make(port, prefix) {
			const client = newClient(port);
			const limiter = flexibleLimiter(client, prefix);
			return {
				handler: rateLimiterFlexibleMiddleware(limiter, keyOf),
				call: async () => {
					throw new Error('HTTP only');
				},
				close: () => client.disconnect(),
			};
		},
	},
	memory: {
		label: 'express-rate-limit MemoryStore (one process only, no network)',
		ours: false,
		admissionsUnknownAtStoreLevel: true,
		make() {
			const store = new MemoryStore();
			store.init({windowMs} as MiddlewareOptions);
			return {store, call: incrementOn(store), close: () => store.shutdown()};
		},
	},
};

// --- HTTP -----------------------------------------------------------------------------------------------------------

export type AbuseHttpRow = {
	requestsPerSecond: number;
	p50Ms: number;
	p99Ms: number;
	/** Responses in the measured rounds, by status. */
	status: Record<string, number>;
	/** Socket errors and timeouts. */
	errors: number;
	/** Commands the store's clients sent, per request (each a round trip), and the same with what scripts ran inside. */
	redisCommandsPerRequest: number;
	redisCallsPerRequest: number;
	commands: CommandCounts;
	overAdmitted: number;
	hotAdmitted: number;
};

type LoadResult = {
	requests: number;
	statusCodes: Record<string, number>;
	errors: number;
	timeouts: number;
	requestsPerSecond: number;
	p50Ms: number;
	p99Ms: number;
};

async function load(url: string, settings: {durationS?: number; amount?: number; seed: number}): Promise<LoadResult> {
	const {stdout} = await run(process.execPath, [loadChild, JSON.stringify({url, connections, ...mix, ...settings})]);
	return JSON.parse(stdout) as LoadResult;
}

async function listen(
	handler: RequestHandler, admissions: Admissions, hits: Hits,
): Promise<{server: Server; url: string}> {
	const app = express();
	app.use((request, _response, next) => {
		hits.hit(keyOf(request));
		next();
	});
	app.use(handler);
	app.get('/', (request, response) => {
		admissions.admit(keyOf(request));
		response.json({ok: true});
	});
	// A store error that reaches Express (express-rate-limit fails closed) is a 500, counted from the client's side.
	app.use(((_error, _request, response, _next) => {
		response.status(500).end();
	}) satisfies express.ErrorRequestHandler);
	return new Promise(resolve => {
		const server = app.listen(0, '127.0.0.1', () => {
			resolve({server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`});
		});
	});
}

async function httpRounds(port: number, admin: Redis, {prisma, quick, progress, median}: AbuseOptions) {
	const durationS = quick ? 2 : 6;
	const rounds = quick ? 1 : 5;
	const names = Object.keys(candidates);
	const runId = Date.now();
	const made: Record<string, Made> = {};
	const servers: Record<string, {server: Server; url: string}> = {};
	const admissions: Record<string, Admissions> = {};
	const hits: Record<string, Hits> = {};
	const samples: Record<string, LoadResult[]> = {};
	const commands: Record<string, CommandCounts> = {};
	try {
		for (const name of names) {
			made[name] = candidates[name]!.make(port, `bench:abuse:http:${runId}:${name}:`, prisma);
			admissions[name] = new Admissions();
			hits[name] = new Hits();
			samples[name] = [];
			commands[name] = {};
			const {store, handler} = made[name];
			const limiter = handler ?? rateLimit({
				windowMs, limit, store, keyGenerator: keyOf, standardHeaders: 'draft-8', legacyHeaders: false,
			});
			// eslint-disable-next-line no-await-in-loop
			servers[name] = await listen(limiter, admissions[name], hits[name]);
		}

		// Warm-up: connections, scripts, JIT, and the hot keys past their limit (~270 hits each).
		for (const name of names) {
			progress(`abuse http: warm-up · ${name}`);
			// eslint-disable-next-line no-await-in-loop
			await load(servers[name]!.url, {amount: 3000, seed: 1});
		}

		for (let index = 0; index < rounds; index++) {
			const order = [...names.slice(index % names.length), ...names.slice(0, index % names.length)];
			for (const name of order) {
				progress(`abuse http: round ${index + 1}/${rounds} · ${name} (${connections} connections, ${durationS} s)`);
				// eslint-disable-next-line no-await-in-loop
				await admin.config('RESETSTAT');
				// eslint-disable-next-line no-await-in-loop
				samples[name]!.push(await load(servers[name]!.url, {durationS, seed: 1000 + index}));
				// eslint-disable-next-line no-await-in-loop
				addCounts(commands[name]!, await readCommands(admin));
			}
		}
	} finally {
		await Promise.all(Object.values(servers).map(async ({server}) => {
			server.closeAllConnections();
			await new Promise(resolve => {
				server.close(resolve);
			});
		}));
		await Promise.all(Object.values(made).map(async each => each.close?.()));
	}

	const rows: Record<string, AbuseHttpRow> = {};
	for (const name of names) {
		const runs = samples[name]!;
		const status: Record<string, number> = {};
		for (const sample of runs) {
			for (const [code, count] of Object.entries(sample.statusCodes)) {
				status[code] = (status[code] ?? 0) + count;
			}
		}

		const requests = runs.reduce((sum, sample) => sum + sample.requests, 0);
		const {sent, executed} = commandTotals(commands[name]!);
		rows[name] = {
			requestsPerSecond: Math.round(median(runs.map(sample => sample.requestsPerSecond))),
			p50Ms: median(runs.map(sample => sample.p50Ms)),
			p99Ms: median(runs.map(sample => sample.p99Ms)),
			status,
			errors: runs.reduce((sum, sample) => sum + sample.errors + sample.timeouts, 0),
			redisCommandsPerRequest: round(sent / requests, 4),
			redisCallsPerRequest: round(executed / requests, 4),
			commands: commands[name]!,
			overAdmitted: admissions[name]!.overLimit,
			hotAdmitted: admissions[name]!.hot,
		};
	}

	const busiestColdKey = Math.max(...names.map(name => hits[name]!.busiestColdKey));
	return {connections, durationS, rounds, busiestColdKey, rows};
}

// --- Store level ----------------------------------------------------------------------------------------------------

export type AbuseStoreRow = {
	opsPerSecond: number;
	redisCommandsPerOp: number;
	redisCallsPerOp: number;
	commands: CommandCounts;
	/** `null` where the store's answers cannot say (MemoryStore, see `admissionsUnknownAtStoreLevel`). */
	overAdmitted: number | null;
	hotAdmitted: number | null;
	/** Calls that failed (a refusal is an answer, not a failure). */
	errors: number;
};

async function storeRounds(port: number, admin: Redis, {prisma, quick, progress, median}: AbuseOptions) {
	const callsPerRound = quick ? 20_000 : 200_000;
	const rounds = quick ? 3 : 7;
	const names = Object.keys(candidates).filter(name => !candidates[name]!.httpOnly);
	const runId = Date.now();
	const made: Record<string, Made> = {};
	const admissions: Record<string, Admissions> = {};
	const hits: Record<string, Hits> = {};
	const opsPerSecond: Record<string, number[]> = {};
	const commands: Record<string, CommandCounts> = {};
	const calls: Record<string, number> = {};
	const errors: Record<string, number> = {};
	for (const name of names) {
		made[name] = candidates[name]!.make(port, `bench:abuse:store:${runId}:${name}:`, prisma);
		admissions[name] = new Admissions();
		hits[name] = new Hits();
		opsPerSecond[name] = [];
		commands[name] = {};
		calls[name] = 0;
		errors[name] = 0;
	}

	/** `total` calls of `name`'s store, `concurrency` at a time, keys from the mix; ops/s. */
	const runRound = async (name: string, total: number, seed: number) => {
		const {call} = made[name]!;
		const admitted = admissions[name]!;
		// The same draws again, outside the timed loop: how often each key was called.
		const replay = keyDraw({seed, ...mix});
		for (let index = 0; index < total; index++) {
			hits[name]!.hit(replay());
		}

		const draw = keyDraw({seed, ...mix});
		let issued = 0;
		const worker = async () => {
			while (issued < total) {
				issued++;
				const key = draw();
				try {
					// eslint-disable-next-line no-await-in-loop
					if (await call(key)) {
						admitted.admit(key);
					}
				} catch {
					errors[name]!++;
				}
			}
		};

		const started = performance.now();
		await Promise.all(Array.from({length: concurrency}, worker));
		return total / ((performance.now() - started) / 1000);
	};

	try {
		// Warm-up: connections, scripts, JIT, and the hot keys past their limit (~450 hits each).
		for (const name of names) {
			progress(`abuse store: warm-up · ${name}`);
			// eslint-disable-next-line no-await-in-loop
			await runRound(name, 5000, 1);
		}

		for (let index = 0; index < rounds; index++) {
			const order = [...names.slice(index % names.length), ...names.slice(0, index % names.length)];
			for (const name of order) {
				progress(`abuse store: round ${index + 1}/${rounds} · ${name} (${callsPerRound} calls, ${concurrency} at a time)`);
				// eslint-disable-next-line no-await-in-loop
				await admin.config('RESETSTAT');
				// eslint-disable-next-line no-await-in-loop
				opsPerSecond[name]!.push(await runRound(name, callsPerRound, 1000 + index));
				calls[name]! += callsPerRound;
				// eslint-disable-next-line no-await-in-loop
				addCounts(commands[name]!, await readCommands(admin));
			}
		}
	} finally {
		await Promise.all(Object.values(made).map(async each => each.close?.()));
	}

	const rows: Record<string, AbuseStoreRow> = {};
	for (const name of names) {
		const {sent, executed} = commandTotals(commands[name]!);
		rows[name] = {
			opsPerSecond: Math.round(median(opsPerSecond[name]!)),
			redisCommandsPerOp: round(sent / calls[name]!, 4),
			redisCallsPerOp: round(executed / calls[name]!, 4),
			commands: commands[name]!,
			overAdmitted: candidates[name]!.admissionsUnknownAtStoreLevel ? null : admissions[name]!.overLimit,
			hotAdmitted: candidates[name]!.admissionsUnknownAtStoreLevel ? null : admissions[name]!.hot,
			errors: errors[name]!,
		};
	}

	const busiestColdKey = Math.max(...names.map(name => hits[name]!.busiestColdKey));
	return {concurrency, callsPerRound, rounds, busiestColdKey, rows};
}

// --- The section ----------------------------------------------------------------------------------------------------

export async function abuseBench(options: AbuseOptions) {
	const started = performance.now();
	const server = await RedisServer.start();
	const admin = new Redis({port: server.port, host: '127.0.0.1'});
	admin.on('error', () => undefined);
	try {
		const http = await httpRounds(server.port, admin, options);
		const store = await storeRounds(server.port, admin, options);
		const elapsedMs = performance.now() - started;
		// Over the limit means within one window: every key's window must have outlasted the section.
		if (elapsedMs >= windowMs) {
			throw new Error(`The abuse section took ${Math.round(elapsedMs / 1000)} s, longer than its window (${windowMs / 1000} s): its admission counts would span windows`);
		}

		const ratio = (a: number, b: number) => round(a / b);
		const ours = ['ours', 'oursRedis'];
		const result = {
			limit,
			windowMs,
			mix,
			// The headline, for ours as apps use it (the fallback store over the Redis store).
			redisCommandsPerRequest: http.rows.ours!.redisCommandsPerRequest,
			storeVsRateLimitRedis: ratio(store.rows.ours!.opsPerSecond, store.rows.rateLimitRedis!.opsPerSecond),
			storeVsRateLimiterFlexible: ratio(store.rows.ours!.opsPerSecond, store.rows.rateLimiterFlexible!.opsPerSecond),
			httpVsRateLimitRedis: ratio(http.rows.ours!.requestsPerSecond, http.rows.rateLimitRedis!.requestsPerSecond),
			httpVsMemory: ratio(http.rows.ours!.requestsPerSecond, http.rows.memory!.requestsPerSecond),
			// Ours, both configurations, HTTP and store level.
			overAdmitted: ours.reduce(
				(sum, name) => sum + http.rows[name]!.overAdmitted + (store.rows[name]!.overAdmitted ?? 0), 0,
			),
			// Ours: 5xx responses, socket errors and timeouts, failed store calls.
			errors: ours.reduce((sum, name) => {
				const row = http.rows[name]!;
				const fivexx = Object.entries(row.status).filter(([code]) => code.startsWith('5')).reduce((total, [, count]) => total + count, 0);
				return sum + fivexx + row.errors + store.rows[name]!.errors;
			}, 0),
			redisStore: {
				redisCommandsPerRequest: http.rows.oursRedis!.redisCommandsPerRequest,
				storeVsRateLimitRedis: ratio(store.rows.oursRedis!.opsPerSecond, store.rows.rateLimitRedis!.opsPerSecond),
				storeVsRateLimiterFlexible: ratio(store.rows.oursRedis!.opsPerSecond, store.rows.rateLimiterFlexible!.opsPerSecond),
				httpVsRateLimitRedis: ratio(http.rows.oursRedis!.requestsPerSecond, http.rows.rateLimitRedis!.requestsPerSecond),
				httpVsMemory: ratio(http.rows.oursRedis!.requestsPerSecond, http.rows.memory!.requestsPerSecond),
			},
			httpVsRateLimiterFlexible: ratio(
				http.rows.ours!.requestsPerSecond, http.rows.rateLimiterFlexible!.requestsPerSecond,
			),
			http,
			store,
		};
		await chart(result, options.chartsDir);
		return result;
	} finally {
		admin.disconnect();
		await server.stop();
	}
}

export type AbuseResult = Awaited<ReturnType<typeof abuseBench>>;

const shortLabels: Record<string, string> = {
	ours: 'ours: fallback store',
	oursRedis: 'ours: Redis store alone',
	rateLimitRedis: 'rate-limit-redis',
	rateLimiterFlexible: 'rate-limiter-flexible',
	rateLimiterFlexibleOwnMiddleware: 'rate-limiter-flexible, bare middleware',
	memory: 'MemoryStore (one process)',
};

/** abuse-mix.svg: requests/s over HTTP, calls/s at store level, and Redis commands per request, one bar per store. */
async function chart(result: Omit<AbuseResult, never>, chartsDir: string) {
	const rows = [
		...Object.entries(result.http.rows).map(([name, row]) => ({
			panel: 'http', store: shortLabels[name]!, ours: candidates[name]!.ours, value: row.requestsPerSecond,
		})),
		...Object.entries(result.store.rows).map(([name, row]) => ({
			panel: 'store', store: shortLabels[name]!, ours: candidates[name]!.ours, value: row.opsPerSecond,
		})),
		...Object.entries(result.http.rows).map(([name, row]) => ({
			panel: 'commands', store: shortLabels[name]!, ours: candidates[name]!.ours, value: row.redisCommandsPerRequest,
		})),
	];
	const order = Object.keys(result.http.rows).map(name => shortLabels[name]!);
	const bar = (panel: string, title: string, format: string) => ({
		title,
		width: 520,
		height: {step: 20},
		transform: [{filter: `datum.panel === '${panel}'`}],
		encoding: {
			y: {field: 'store', type: 'nominal', sort: order, title: null, axis: {labelLimit: 360}},
			x: {field: 'value', type: 'quantitative', title: null, axis: {format}},
		},
		layer: [
			{
				mark: {type: 'bar'},
				encoding: {
					color: {
						field: 'ours', type: 'nominal', legend: null, scale: {domain: [true, false], range: ['#1f77b4', '#9e9e9e']},
					},
				},
			},
			{mark: {type: 'text', align: 'left', dx: 4}, encoding: {text: {field: 'value', type: 'quantitative', format}}},
		],
	});
	const spec = {
		$schema: 'https://vega.github.io/schema/vega-lite/v6.json',
		title: {
			text: `Abuse: ${mix.hotShare * 100} % of requests from ${mix.hotKeys} keys far over their limit, ${Math.round((1 - mix.hotShare) * 100)} % from ${mix.coldKeys.toLocaleString('en')} keys under it`,
			subtitle: `limit ${limit} per ${windowMs / 60_000} min; HTTP: express-rate-limit, ${result.http.connections} connections; ours in blue`,
		},
		data: {values: rows},
		vconcat: [
			bar('http', 'HTTP: requests per second (median of interleaved rounds)', ',.0f'),
			bar('store', `Store level: calls per second (${result.store.concurrency} at a time)`, ',.0f'),
			bar('commands', 'Redis commands per request, counted by the server', '.2f'),
		],
	} as TopLevelSpec;
	const view = new vega.View(vega.parse(compile(spec).spec), {renderer: 'none'});
	const svg = await view.toSVG();
	view.finalize();
	// --quick writes into .tmp/, which a fresh clone does not have yet (this section runs before the outages').
	mkdirSync(chartsDir, {recursive: true});
	writeFileSync(join(chartsDir, 'abuse-mix.svg'), svg);
}

/** The section as Markdown: the two tables and the chart. */
export function abuseMarkdown(result: AbuseResult, chartsLink: string): string[] {
	const {http, store} = result;
	const status = (row: AbuseHttpRow) => Object.entries(row.status).map(([code, count]) => `${code}: ${count}`).join(', ');
	return [
		`### Abuse: ${result.mix.hotShare * 100} % of requests from ${result.mix.hotKeys} keys far over their limit, the rest from ${result.mix.coldKeys.toLocaleString('en')} keys under it (limit ${result.limit} per ${result.windowMs / 60_000} min)`,
		'',
		`![abuse mix](${chartsLink}abuse-mix.svg)`,
		'',
		`HTTP: Express + express-rate-limit (draft-8 headers), ${http.connections} connections, median of ${http.rounds} interleaved ${http.durationS} s rounds; Redis commands counted by the server.`,
		'',
		'| store | requests/s | p50 ms | p99 ms | Redis commands / request | incl. inside scripts | status | errors | over the limit | hot keys admitted |',
		'|---|---:|---:|---:|---:|---:|---|---:|---:|---:|',
		...Object.entries(http.rows).map(([name, row]) => `| ${candidates[name]!.ours ? `**${candidates[name]!.label}**` : candidates[name]!.label} | ${row.requestsPerSecond} | ${row.p50Ms} | ${row.p99Ms} | ${row.redisCommandsPerRequest} | ${row.redisCallsPerRequest} | ${status(row)} | ${row.errors} | ${row.overAdmitted} | ${row.hotAdmitted} |`),
		'',
		`Ours ÷ rate-limit-redis ${result.httpVsRateLimitRedis.toFixed(3)}, ÷ MemoryStore ${result.httpVsMemory.toFixed(3)}, ÷ rate-limiter-flexible ${result.httpVsRateLimiterFlexible.toFixed(3)}`
			+ ` (the Redis store alone: ${result.redisStore.httpVsRateLimitRedis.toFixed(3)}, ${result.redisStore.httpVsMemory.toFixed(3)}).`
			+ ` The busiest cold key made ${http.busiestColdKey} requests (limit ${result.limit}).`,
		'',
		`Store level: each store's own call, ${store.concurrency} at a time, ${store.callsPerRound.toLocaleString('en')} calls per round, median of ${store.rounds} interleaved rounds.`,
		'',
		'| store | calls/s | Redis commands / call | incl. inside scripts | over the limit | hot keys admitted | errors |',
		'|---|---:|---:|---:|---:|---:|---:|',
		...Object.entries(store.rows).map(([name, row]) => `| ${candidates[name]!.ours ? `**${candidates[name]!.label}**` : candidates[name]!.storeLabel ?? candidates[name]!.label} | ${row.opsPerSecond} | ${row.redisCommandsPerOp} | ${row.redisCallsPerOp} | ${row.overAdmitted ?? '—'} | ${row.hotAdmitted ?? '—'} | ${row.errors} |`),
		'',
		`Ours ÷ rate-limit-redis ${result.storeVsRateLimitRedis.toFixed(2)}, ÷ rate-limiter-flexible ${result.storeVsRateLimiterFlexible.toFixed(3)}`
			+ ` (the Redis store alone: ${result.redisStore.storeVsRateLimitRedis.toFixed(2)}, ${result.redisStore.storeVsRateLimiterFlexible.toFixed(3)}).`
			+ ` The busiest cold key made ${store.busiestColdKey} calls (limit ${result.limit}).`
			+ ' MemoryStore\'s admissions cannot be read at this level: it hands out its live count object, which other callers'
			+ ' have moved on by the time one reads it (over HTTP each request reads it before the next one runs).',
		'',
	];
}
