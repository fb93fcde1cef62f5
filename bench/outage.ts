/*
Redis not answering, under HTTP load (issue 22): an Express app with a rate limiter and one private redis-server, while
autocannon (bench/outage-load-child.mjs, a child process) keeps fixed connections busy, each connection one client key.
Every configuration — ours and what users pick instead — runs every scenario on the same timeline:

- kill: SIGKILL, restart on the same port after the fault's length (Redis comes back empty);
- freeze: SIGSTOP, then SIGCONT (a server that keeps its sockets and never answers);
- startup: the app starts while nothing listens on the port; Redis starts after the fault's length;
- scriptFlush: SCRIPT FLUSH (the next EVALSHA gets NOSCRIPT); the "fault" is the second after it.

Per configuration and scenario: latency of the requests in progress at any moment of the fault (p50/p99/max), their
status mix, the responses per second during it, how long after its end Redis decides again, connect() calls,
unhandled rejections, and the hits admitted over the limit per key across the whole run. One SVG chart per scenario
(vega-lite, rendered by vega in Node): p99 latency per 100 ms of start time, one line per configuration, the fault
shaded.
*/
import {execFile} from 'node:child_process';
import {mkdirSync, writeFileSync} from 'node:fs';
import type {Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import express, {type RequestHandler} from 'express';
import {rateLimit, type Store} from 'express-rate-limit';
import {Redis, type RedisOptions} from 'ioredis';
import {Redis as Redis6} from 'ioredis6';
import {RedisStore as RateLimitRedisStore} from 'rate-limit-redis';
import {RateLimiterMemory, RateLimiterRedis} from 'rate-limiter-flexible';
import * as vega from 'vega';
import {compile, type TopLevelSpec} from 'vega-lite';
import {guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore} from '../examples/rate-limit/fallback-store.js';
import type {RateLimitPrisma} from '../examples/rate-limit/prisma-clients.js';
import {PrismaRateLimitStore} from '../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../examples/rate-limit/redis-store.js';
import {RedisServer, cli} from '../__tests__/servers/redis-server.js';
import {RateLimiterFlexibleStore, rateLimiterFlexibleMiddleware} from './peer-stores.js';

const run = promisify(execFile);
const loadChild = fileURLToPath(new URL('outage-load-child.mjs', import.meta.url));

export type Scenario = 'kill' | 'freeze' | 'startup' | 'scriptFlush';
export const scenarios: Scenario[] = ['kill', 'freeze', 'startup', 'scriptFlush'];

export type OutageOptions = {
	/** The fallback store's database (SQLite in a temporary folder, made by bench.ts). */
	prisma: RateLimitPrisma;
	quick: boolean;
	/** Where the SVG charts go. */
	chartsDir: string;
	progress(text: string): void;
	/** Only these configurations (names of `configurations`), e.g. to profile one: all of the run's by default. */
	configurations?: string[];
	/** Only these scenarios: all by default. */
	scenarios?: Scenario[];
};

export type OutageRow = {
	p50Ms: number;
	p99Ms: number;
	maxMs: number;
	/** Requests in progress during the fault, by outcome: HTTP status, or `errors` for socket errors and timeouts. */
	status: Record<string, number>;
	servedPerS: number;
	/** From the fault's end until Redis decided a request again; `null` if it did not within the run. */
	recoverMs: number | null;
	connectCalls: number;
	overAdmitted: number;
	unhandled: number;
};

// Each key may make `limit` requests per window; the window outlasts the run, so every 200 past `limit` is over.
const limit = 50;
const windowMs = 600_000;
const connections = 20;
const cooldownMs = 1000;
const storeTimeoutMs = 1000;

type Limiter = {
	handler: RequestHandler;
	/** Calls back each time Redis decides a request (ours: the store's `decision` events; peers: a script reply). */
	onRedisDecision(listener: () => void): void;
};

type Configuration = {
	label: string;
	client(port: number): Redis;
	/** Made once the client is ready (at startup: at once), as an app that awaits its client would. */
	build(client: Redis, prefix: string, prisma: RateLimitPrisma): Limiter;
};

const quietLogger = {warn() {}, info() {}};
const keyOf = (request: express.Request) => request.get('x-client-key') ?? 'none';

function expressLimiter(store: Store, passOnStoreError: boolean): RequestHandler {
	return rateLimit({
		windowMs, limit, store, passOnStoreError, keyGenerator: keyOf, standardHeaders: 'draft-8', legacyHeaders: false, validate: false,
	});
}

/** Calls `listener` whenever one of the client's script commands (EVAL, EVALSHA) is answered. */
function onScriptReply(client: Redis | Redis6, listener: () => void): void {
	const send = client.sendCommand.bind(client);
	client.sendCommand = ((command: Parameters<Redis['sendCommand']>[0], stream?: Parameters<Redis['sendCommand']>[1]) => {
		if (/^eval/i.test(command.name)) {
			command.promise.then(listener, () => undefined);
		}

		return send(command as never, stream as never);
	}) as Redis['sendCommand'];
}

function ioredis(port: number, options: RedisOptions = {}, Client: typeof Redis | typeof Redis6 = Redis): Redis {
	// ioredis 6 takes the same options; its class is typed apart.
	const client = new (Client as typeof Redis)({port, ...options});
	client.on('error', () => undefined);
	return client;
}

/** Ours: the example stores over a guarded client, with the options the store recommends. */
const oursClient = (port: number) => ioredis(port, {lazyConnect: true, autoResendUnfulfilledCommands: false});

function oursRedisAlone(passOnStoreError: boolean): Configuration['build'] {
	return (client, prefix) => {
		const store = new RedisRateLimitStore({redis: guardedRedis(client), windowMs, prefix, timeoutMs: storeTimeoutMs});
		const listeners: Array<() => void> = [];
		const increment = store.increment.bind(store);
		store.increment = async key => increment(key).then(info => {
			for (const listener of listeners) {
				listener();
			}

			return info;
		});
		return {handler: expressLimiter(store, passOnStoreError), onRedisDecision: listener => listeners.push(listener)};
	};
}

function rateLimitRedis(passOnStoreError: boolean): Configuration['build'] {
	return (client, prefix) => {
		const store = new RateLimitRedisStore({
			sendCommand: async (command: string, ...arguments_: string[]) => client.call(command, ...arguments_) as never,
			prefix,
		});
		return {
			handler: expressLimiter(store, passOnStoreError),
			onRedisDecision: listener => onScriptReply(client, listener),
		};
	};
}

/**
rate-limiter-flexible with memory insurance (and with `recommended`, `rejectIfRedisNotReady` and
`inMemoryBlockOnConsumed`), behind its own bare
middleware (its README's: no headers, no body) or, `asStore`, behind the same express-rate-limit middleware as ours.
*/
function rateLimiterFlexible(recommended: boolean, asStore = false): Configuration['build'] {
	return (client, prefix) => {
		const limiter = new RateLimiterRedis({
			storeClient: client,
			keyPrefix: prefix,
			points: limit,
			duration: windowMs / 1000,
			insuranceLimiter: new RateLimiterMemory({points: limit, duration: windowMs / 1000}),
			// Keys over their limit answered from memory (its docs' block strategy): what ours does by default.
			...recommended && {rejectIfRedisNotReady: true, inMemoryBlockOnConsumed: limit},
		});
		return {
			handler: asStore
				? expressLimiter(new RateLimiterFlexibleStore(limiter, prefix), false)
				: rateLimiterFlexibleMiddleware(limiter, keyOf),
			onRedisDecision: listener => onScriptReply(client, listener),
		};
	};
}

/** Ours, as in `configurations.ours`; `store.on('decision')` says when Redis decided. */
function oursFallback(client: Redis, prefix: string, prisma: RateLimitPrisma): FallbackRateLimitStore {
	return new FallbackRateLimitStore(
		new RedisRateLimitStore({redis: guardedRedis(client), windowMs, prefix, timeoutMs: storeTimeoutMs}),
		new PrismaRateLimitStore({prisma, windowMs, prefix, cleanupIntervalMs: 0}),
		{cooldownMs, logger: quietLogger, limit},
	);
}

/** Ours behind the same bare middleware as rate-limiter-flexible's own: `consume()`, then `next()` or a bare 429. */
function bareMiddleware(store: FallbackRateLimitStore): RequestHandler {
	return (request, response, next) => {
		store.consume(keyOf(request)).then(({allowed}) => {
			if (allowed) {
				next();
			} else {
				response.status(429).end();
			}
		}, next);
	};
}

export const configurations: Record<string, Configuration> = {
	ours: {
		label: 'ours: FallbackRateLimitStore (guarded Redis store → Prisma SQLite)',
		client: oursClient,
		build(client, prefix, prisma) {
			const store = oursFallback(client, prefix, prisma);
			return {
				handler: expressLimiter(store, false),
				onRedisDecision(listener) {
					store.on('decision', decidedBy => decidedBy === 'primary' && listener());
				},
			};
		},
	},
	oursBareMiddleware: {
		label: 'ours, the same, behind rate-limiter-flexible\'s bare middleware (`consume()`, no headers)',
		client: oursClient,
		build(client, prefix, prisma) {
			const store = oursFallback(client, prefix, prisma);
			return {
				handler: bareMiddleware(store),
				onRedisDecision(listener) {
					store.on('decision', decidedBy => decidedBy === 'primary' && listener());
				},
			};
		},
	},
	oursRedisFailClosed: {
		label: 'ours: RedisRateLimitStore alone, passOnStoreError: false', client: oursClient, build: oursRedisAlone(false),
	},
	oursRedisFailOpen: {
		label: 'ours: RedisRateLimitStore alone, passOnStoreError: true', client: oursClient, build: oursRedisAlone(true),
	},
	rateLimitRedis: {
		label: 'rate-limit-redis 6, ioredis 5 defaults, passOnStoreError: false',
		client: port => ioredis(port),
		build: rateLimitRedis(false),
	},
	rateLimitRedisFailOpen: {
		label: 'rate-limit-redis 6, ioredis 5 defaults, passOnStoreError: true',
		client: port => ioredis(port),
		build: rateLimitRedis(true),
	},
	rateLimitRedisNoOfflineQueue: {
		label: 'rate-limit-redis 6, ioredis 5 enableOfflineQueue: false, passOnStoreError: false',
		client: port => ioredis(port, {enableOfflineQueue: false}),
		build: rateLimitRedis(false),
	},
	rateLimitRedisIoredis6: {
		label: 'rate-limit-redis 6, ioredis 6 defaults, passOnStoreError: false',
		client: port => ioredis(port, {}, Redis6),
		build: rateLimitRedis(false),
	},
	rateLimiterFlexible: {
		label: 'rate-limiter-flexible 11 RateLimiterRedis + memory insurance, defaults',
		client: port => ioredis(port),
		build: rateLimiterFlexible(false),
	},
	rateLimiterFlexibleRecommended: {
		label: 'rate-limiter-flexible 11 + insurance, rejectIfRedisNotReady, inMemoryBlockOnConsumed, enableOfflineQueue: false',
		client: port => ioredis(port, {enableOfflineQueue: false}),
		build: rateLimiterFlexible(true),
	},
	rateLimiterFlexibleRecommendedStore: {
		label: 'rate-limiter-flexible, the same, as an express-rate-limit store (the same middleware as ours)',
		client: port => ioredis(port, {enableOfflineQueue: false}),
		build: rateLimiterFlexible(true, true),
	},
};

/**
The pairs that compare ours with rate-limiter-flexible's recommended settings on equal terms: the same middleware in
front of both (express-rate-limit's does more per request than rate-limiter-flexible's bare one, whatever the store).
*/
export const likeForLike = [
	{ours: 'ours', peer: 'rateLimiterFlexibleRecommendedStore', middleware: 'express-rate-limit'},
	{ours: 'oursBareMiddleware', peer: 'rateLimiterFlexibleRecommended', middleware: 'rate-limiter-flexible\'s bare one'},
] as const;

const quickConfigurations = [
	'ours', 'oursBareMiddleware', 'rateLimitRedis', 'rateLimiterFlexibleRecommended', 'rateLimiterFlexibleRecommendedStore',
];

type LoadRecord = [endMs: number, latencyMs: number | null, status: number, key: number];

async function load(url: string, durationS: number): Promise<LoadRecord[]> {
	const settings = JSON.stringify({url, connections, durationS, timeoutS: 60});
	const {stdout} = await run(process.execPath, [loadChild, settings], {maxBuffer: 2 ** 28});
	return (JSON.parse(stdout) as {records: LoadRecord[]}).records;
}

const wait = async (ms: number) => new Promise(resolve => {
	setTimeout(resolve, ms);
});

function percentile(sorted: number[], p: number): number {
	return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

const round = (value: number) => Math.round(value * 10) / 10;

type Timeline = {beforeMs: number; faultMs: number; afterMs: number};

/** One configuration through one scenario: the row, and p99 per 100 ms of start time for the chart. */
async function runOne(
	configuration: Configuration,
	scenario: Scenario,
	timeline: Timeline,
	prisma: RateLimitPrisma,
	prefix: string,
): Promise<{row: OutageRow; series: Array<{t: number; p99: number}>}> {
	const server = scenario === 'startup' ? await RedisServer.reserve() : await RedisServer.start();
	let unhandled = 0;
	const onUnhandled = () => {
		unhandled++;
	};

	process.on('unhandledRejection', onUnhandled);
	// express-rate-limit logs every store error it passes on; the bench counts them as statuses instead.
	const {error: logError, warn: logWarning} = console;
	console.error = () => undefined;
	console.warn = () => undefined;
	const client = configuration.client(server.port);
	let connectCalls = 0;
	const connect = client.connect.bind(client);
	client.connect = async () => {
		connectCalls++;
		return connect();
	};

	// A lazy client (ours) connects on the first request; the others connect by themselves.
	if (scenario !== 'startup' && !client.options.lazyConnect && client.status !== 'ready') {
		await new Promise(resolve => client.once('ready', resolve));
	}

	const limiter = configuration.build(client, prefix, prisma);

	const redisDecisions: number[] = [];
	limiter.onRedisDecision(() => redisDecisions.push(Date.now()));
	let firstRequest: (() => void) | undefined;
	const started = new Promise<void>(resolve => {
		firstRequest = resolve;
	});
	const app = express();
	app.use((_request, _response, next) => {
		firstRequest?.();
		firstRequest = undefined;
		next();
	});
	app.use(limiter.handler);
	app.get('/', (_request, response) => {
		response.json({ok: true});
	});
	// A store error that reaches Express (fail closed) is a 500, counted from the client's side; no log line each.
	app.use(((_error, _request, response, _next) => {
		response.status(500).end();
	}) satisfies express.ErrorRequestHandler);
	const http: Server = app.listen(0, '127.0.0.1');
	await new Promise(resolve => http.once('listening', resolve));
	const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;

	try {
		const isStartup = scenario === 'startup';
		const durationS = ((isStartup ? 0 : timeline.beforeMs) + timeline.faultMs + timeline.afterMs) / 1000;
		const records = load(url, durationS);
		await started;
		let faultStart: number;
		let faultEnd: number;
		if (isStartup) {
			faultStart = Date.now();
			await wait(timeline.faultMs);
			await server.restart();
			faultEnd = Date.now();
		} else {
			await wait(timeline.beforeMs);
			faultStart = Date.now();
			if (scenario === 'scriptFlush') {
				await cli(server.port, 'SCRIPT', 'FLUSH');
				await wait(timeline.faultMs);
			} else if (scenario === 'kill') {
				await server.kill();
				await wait(timeline.faultMs);
				await server.restart();
			} else {
				server.freeze();
				await wait(timeline.faultMs);
				server.thaw();
			}

			faultEnd = Date.now();
		}

		const all = await records;
		const startOf = ([end, latency]: LoadRecord) => end - (latency ?? 0);
		// In progress at any moment of the fault: those held since before it began count too.
		const during = all.filter(record => startOf(record) < faultEnd && record[0] > faultStart);
		const latencies = during.filter(([, latency, status]) => status > 0 && latency !== null)
			.map(([, latency]) => latency!).sort((a, b) => a - b);
		const status: Record<string, number> = {};
		for (const [, , code] of during) {
			const name = code === 0 ? 'errors' : String(code);
			status[name] = (status[name] ?? 0) + 1;
		}

		const served = all.filter(([end, , code]) =>
			(code === 200 || code === 429) && end >= faultStart && end < faultEnd).length;
		const admitted = new Map<number, number>();
		for (const [, , code, key] of all) {
			if (code === 200) {
				admitted.set(key, (admitted.get(key) ?? 0) + 1);
			}
		}

		const overAdmitted = [...admitted.values()].reduce((sum, count) => sum + Math.max(0, count - limit), 0);
		const back = redisDecisions.find(at => at >= faultEnd);
		const bucketMs = 100;
		const buckets = new Map<number, number[]>();
		for (const record of all) {
			if (record[2] > 0 && record[1] !== null) {
				const t = Math.floor((startOf(record) - faultStart) / bucketMs) * bucketMs;
				buckets.set(t, [...buckets.get(t) ?? [], record[1]]);
			}
		}

		const series = [...buckets.entries()].sort(([a], [b]) => a - b)
			.map(([t, values]) => ({t, p99: Math.max(0.1, percentile(values.sort((a, b) => a - b), 0.99))}));
		return {
			row: {
				p50Ms: round(percentile(latencies, 0.5)),
				p99Ms: round(percentile(latencies, 0.99)),
				maxMs: round(latencies.at(-1) ?? 0),
				status,
				servedPerS: Math.round(served / ((faultEnd - faultStart) / 1000)),
				recoverMs: back === undefined ? null : back - faultEnd,
				connectCalls,
				overAdmitted,
				unhandled,
			},
			series,
		};
	} finally {
		http.closeAllConnections();
		http.close();
		client.disconnect();
		await server.stop();
		process.removeListener('unhandledRejection', onUnhandled);
		console.error = logError;
		console.warn = logWarning;
	}
}

/** One SVG per scenario: p99 latency per 100 ms of start time, a line per configuration, the fault shaded. */
async function chart(
	scenario: Scenario,
	timeline: Timeline,
	lines: Array<{configuration: string; t: number; p99: number}>,
	chartsDir: string,
) {
	const spec: TopLevelSpec = {
		$schema: 'https://vega.github.io/schema/vega-lite/v6.json',
		title: {text: `Redis ${scenarioTitles[scenario]}: p99 latency per 100 ms`, subtitle: `${connections} connections, shaded: the fault`},
		width: 640,
		height: 300,
		layer: [
			{
				data: {values: [{start: 0, end: timeline.faultMs}]},
				mark: {type: 'rect', color: '#d62728', opacity: 0.12},
				encoding: {x: {field: 'start', type: 'quantitative'}, x2: {field: 'end'}},
			},
			{
				data: {values: lines},
				mark: {type: 'line', interpolate: 'step-after', strokeWidth: 1.5},
				encoding: {
					x: {field: 't', type: 'quantitative', title: 'ms since the fault began'},
					y: {field: 'p99', type: 'quantitative', title: 'p99 latency (ms, log)', scale: {type: 'log'}},
					// Eleven configurations: a scheme of 20 colours, so that no two lines share one.
					color: {
						field: 'configuration', type: 'nominal', scale: {scheme: 'tableau20'},
						legend: {orient: 'bottom', columns: 2, labelLimit: 360},
					},
				},
			},
		],
	};
	const view = new vega.View(vega.parse(compile(spec).spec), {renderer: 'none'});
	const svg = await view.toSVG();
	view.finalize();
	writeFileSync(join(chartsDir, `outage-${scenario}.svg`), svg);
}

const scenarioTitles: Record<Scenario, string> = {
	kill: 'killed (SIGKILL, restarted empty)',
	freeze: 'frozen (SIGSTOP, then SIGCONT)',
	startup: 'absent at startup',
	scriptFlush: 'SCRIPT FLUSH',
};

export async function outageBench({prisma, quick, chartsDir, progress, ...only}: OutageOptions) {
	const timeline: Timeline = quick
		? {beforeMs: 1000, faultMs: 2000, afterMs: 2500}
		: {beforeMs: 3000, faultMs: 5000, afterMs: 7000};
	const scriptFlushTimeline = {...timeline, faultMs: 1000};
	// --quick (CI) is a smoke run that judges ours only: ours and the two peers most apps use, not every variant.
	const names = only.configurations ?? (quick ? quickConfigurations : Object.keys(configurations));
	for (const name of names) {
		if (!Object.hasOwn(configurations, name)) {
			throw new RangeError(`Expected \`--configurations\` to name configurations of bench/outage.ts (${Object.keys(configurations).join(', ')}), got \`${name}\``);
		}
	}

	for (const scenario of only.scenarios ?? []) {
		if (!scenarios.includes(scenario)) {
			throw new RangeError(`Expected \`--scenarios\` to be among ${scenarios.join(', ')}, got \`${scenario}\``);
		}
	}

	mkdirSync(chartsDir, {recursive: true});
	const results = {} as Record<Scenario, Record<string, OutageRow>>;
	for (const scenario of only.scenarios ?? scenarios) {
		results[scenario] = {};
		const lines: Array<{configuration: string; t: number; p99: number}> = [];
		const scenarioTimeline = scenario === 'scriptFlush' ? scriptFlushTimeline : timeline;
		for (const name of names) {
			const configuration = configurations[name]!;
			progress(`outage: ${scenario} · ${name}`);
			// eslint-disable-next-line no-await-in-loop
			const {row, series} = await runOne(configuration, scenario, scenarioTimeline, prisma, `bench:outage:${scenario}:${name}:${Date.now()}:`);
			results[scenario][name] = row;
			lines.push(...series.map(point => ({configuration: name, ...point})));
		}

		// eslint-disable-next-line no-await-in-loop
		await chart(scenario, scenarioTimeline, lines, chartsDir);
	}

	return {
		timeline, scriptFlushTimeline, connections, limit, cooldownMs, storeTimeoutMs, results,
		likeForLike: compareLikeForLike(results),
	};
}

type LikeForLikeRow = {
	middleware: string;
	ours: string;
	peer: string;
	oursP99Ms: number;
	peerP99Ms: number;
	/** Ours' p99 at most the peer's, with nothing over the limit and no 5xx or socket error. */
	met: boolean;
};

/** Per scenario, each like-for-like pair that ran: ours' p99 during the fault against rate-limiter-flexible's. */
function compareLikeForLike(results: Record<string, Record<string, OutageRow>>): Record<string, LikeForLikeRow[]> {
	const comparisons: Record<string, LikeForLikeRow[]> = {};
	for (const [scenario, rows] of Object.entries(results)) {
		for (const {ours, peer, middleware} of likeForLike) {
			const mine = rows[ours];
			const theirs = rows[peer];
			if (mine && theirs) {
				const failed = Object.keys(mine.status).some(code => code === 'errors' || code.startsWith('5'));
				(comparisons[scenario] ??= []).push({
					middleware, ours, peer, oursP99Ms: mine.p99Ms, peerP99Ms: theirs.p99Ms,
					met: mine.p99Ms <= theirs.p99Ms && mine.overAdmitted === 0 && !failed,
				});
			}
		}
	}

	return comparisons;
}

export type OutageResult = Awaited<ReturnType<typeof outageBench>>;

/** One Markdown table per scenario, configurations as rows. */
export function outageMarkdown(outage: OutageResult, chartsLink: string): string[] {
	const lines: string[] = [
		`### Outages under HTTP load (${outage.connections} connections, limit ${outage.limit} per key; fault ${outage.timeline.faultMs} ms between ${outage.timeline.beforeMs} ms before and ${outage.timeline.afterMs} ms after; our cooldownMs ${outage.cooldownMs}, store timeoutMs ${outage.storeTimeoutMs})`,
		'',
	];
	for (const scenario of Object.keys(outage.results) as Scenario[]) {
		lines.push(
			`#### Redis ${scenarioTitles[scenario]}`,
			'',
			`![${scenario}](${chartsLink}outage-${scenario}.svg)`,
			'',
			'| configuration | p50 ms | p99 ms | max ms | status during the fault | served/s | back on Redis after | connect() | over the limit | unhandled |',
			'|---|---:|---:|---:|---|---:|---:|---:|---:|---:|',
		);
		for (const [name, row] of Object.entries(outage.results[scenario])) {
			const status = Object.entries(row.status).map(([code, count]) => `${code}: ${count}`).join(', ') || '—';
			const back = row.recoverMs === null ? 'not within the run' : `${row.recoverMs} ms`;
			lines.push(`| ${configurations[name]!.label} | ${row.p50Ms} | ${row.p99Ms} | ${row.maxMs} | ${status} | ${row.servedPerS} | ${back} | ${row.connectCalls} | ${row.overAdmitted} | ${row.unhandled} |`);
		}

		lines.push('');
	}

	const pairs = Object.entries(outage.likeForLike);
	if (pairs.length > 0) {
		lines.push(
			'#### Like for like: ours and rate-limiter-flexible\'s recommended settings behind the same middleware',
			'',
			'| scenario | middleware | ours p99 ms | rate-limiter-flexible p99 ms | ours ≤ it, 0 over the limit, no 5xx |',
			'|---|---|---:|---:|---|',
			...pairs.flatMap(([scenario, rows]) => rows.map(row =>
				`| ${scenario} | ${row.middleware} | ${row.oursP99Ms} | ${row.peerP99Ms} | ${row.met ? 'yes' : '**no**'} |`)),
			'',
		);
	}

	return lines;
}
