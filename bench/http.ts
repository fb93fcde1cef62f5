/*
Whole HTTP requests under load (issue: what a store costs per request, not per increment): an Express app with
express-rate-limit and (a) its MemoryStore, (b) the example FallbackRateLimitStore over a guarded ioredis client, with
the Prisma (SQLite) fallback, (c) rate-limit-redis over ioredis `call`. autocannon runs in a child process
(bench/autocannon-child.mjs); the server runs here. Then a cold start for (b) and (c): N concurrent first requests on a
fresh lazy client, counting 5xx responses and connect() calls.
*/
import {execFile} from 'node:child_process';
import type {Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import type {Result} from 'autocannon';
import express, {type Express, type RequestHandler} from 'express';
import {MemoryStore, rateLimit, type Store} from 'express-rate-limit';
import {Redis} from 'ioredis';
import {RedisStore as RateLimitRedisStore} from 'rate-limit-redis';
import {guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore} from '../examples/rate-limit/fallback-store.js';
import type {RateLimitPrisma} from '../examples/rate-limit/prisma-clients.js';
import {PrismaRateLimitStore} from '../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../examples/rate-limit/redis-store.js';

const run = promisify(execFile);
const child = fileURLToPath(new URL('autocannon-child.mjs', import.meta.url));

export type HttpOptions = {
	target: {host: string; port: number};
	/** The fallback store's database (SQLite in a temporary folder, made by bench.ts). */
	prisma: RateLimitPrisma;
	quick: boolean;
	progress(text: string): void;
	median(values: number[]): number;
};

type LoadStats = {requestsPerSecond: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number};
type ColdStartStats = {requests: number; errors: number; connectCalls: number; status: Record<string, number>};

const windowMs = 60_000;
// Every request is allowed (all from one key, 127.0.0.1): the bench measures the store's work, not 429s.
const limit = 1e9;

/** autocannon in a child process, against `url`. */
async function load(url: string, options: Record<string, unknown>): Promise<Result> {
	const {stdout} = await run(process.execPath, [child, JSON.stringify({url, ...options})], {maxBuffer: 2 ** 26});
	return JSON.parse(stdout) as Result;
}

/** express-rate-limit with `store`, the same options for every store. */
function limiterFor(store: Store, validate?: {creationStack: false}): RequestHandler {
	return rateLimit({windowMs, limit, store, standardHeaders: 'draft-8', legacyHeaders: false, ...validate && {validate}});
}

/** An Express app with `limiter` in front of `GET /`. */
function appWith(limiter: RequestHandler): Express {
	const app = express();
	app.use(limiter);
	app.get('/', (_request, response) => {
		response.json({ok: true});
	});
	return app;
}

async function listen(app: Express): Promise<{server: Server; url: string}> {
	return new Promise(resolve => {
		const server = app.listen(0, '127.0.0.1', () => {
			resolve({server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`});
		});
	});
}

async function close(server: Server) {
	server.closeAllConnections();
	await new Promise(resolve => {
		server.close(resolve);
	});
}

/** Counts every connect() on the client: the guard's, ioredis's lazy auto-connect and its retries alike. */
function countConnects(client: Redis): {readonly count: number} {
	const calls = {count: 0};
	const original = client.connect.bind(client);
	client.connect = async (...arguments_: Parameters<Redis['connect']>) => {
		calls.count++;
		return original(...arguments_);
	};

	return calls;
}

export async function httpBench({target, prisma, quick, progress, median}: HttpOptions) {
	const clients: Redis[] = [];
	const newClient = () => {
		// What the rate-limit store asks for (it warns otherwise); no effect while the connection stays up.
		const client = new Redis({...target, lazyConnect: true, autoResendUnfulfilledCommands: false});
		client.on('error', () => undefined);
		clients.push(client);
		return client;
	};

	try {
		const quiet = {warn() {}, info() {}};
		const fallbackStore = (client: Redis, prefix: string) => new FallbackRateLimitStore(
			new RedisRateLimitStore({redis: guardedRedis(client), windowMs, prefix}),
			new PrismaRateLimitStore({prisma, windowMs, prefix, cleanupIntervalMs: 0}),
			{logger: quiet},
		);
		const rateLimitRedisStore = (client: Redis, prefix: string) => new RateLimitRedisStore({
			sendCommand: async (command: string, ...arguments_: string[]) => client.call(command, ...arguments_) as never,
			prefix,
		});

		// --- Steady load: the same app, connections, duration and limit for every store -------------------------------
		const connections = 50;
		// Three processes (server, redis-server, autocannon) share the cores: many short interleaved rounds, the median.
		const durationS = quick ? 2 : 6;
		const rounds = quick ? 1 : 7;
		const stores = {
			memory: () => new MemoryStore(),
			guarded: () => fallbackStore(newClient(), 'bench:http:g:'),
			rateLimitRedis: () => rateLimitRedisStore(newClient(), 'bench:http:r:'),
		};
		type Name = keyof typeof stores;
		const names = Object.keys(stores) as Name[];
		const servers = Object.fromEntries(await Promise.all(names.map(async name =>
			[name, await listen(appWith(limiterFor(stores[name]())))] as const)));
		const samples: Record<Name, LoadStats[]> = {memory: [], guarded: [], rateLimitRedis: []};
		try {
			for (const name of names) {
				// Warm-up: connections, scripts, JIT.
				// eslint-disable-next-line no-await-in-loop
				await load(servers[name]!.url, {connections, amount: 2000});
			}

			for (let index = 0; index < rounds; index++) {
				const order = [...names.slice(index % names.length), ...names.slice(0, index % names.length)];
				for (const name of order) {
					progress(`http: round ${index + 1}/${rounds} · ${name} (${connections} connections, ${durationS} s)`);
					// eslint-disable-next-line no-await-in-loop
					const result = await load(servers[name]!.url, {connections, duration: durationS});
					samples[name].push({
						requestsPerSecond: result.requests.average,
						p50Ms: result.latency.p50,
						p99Ms: result.latency.p99,
						non2xx: result.non2xx,
						errors: result.errors + result.timeouts,
					});
				}
			}
		} finally {
			await Promise.all(Object.values(servers).map(async ({server}) => close(server)));
		}

		const summary = (name: Name): LoadStats => ({
			requestsPerSecond: Math.round(median(samples[name].map(sample => sample.requestsPerSecond))),
			p50Ms: median(samples[name].map(sample => sample.p50Ms)),
			p99Ms: median(samples[name].map(sample => sample.p99Ms)),
			non2xx: samples[name].reduce((sum, sample) => sum + sample.non2xx, 0),
			errors: samples[name].reduce((sum, sample) => sum + sample.errors, 0),
		});
		const memory = summary('memory');
		const guarded = summary('guarded');
		const rateLimitRedis = summary('rateLimitRedis');

		// --- Cold start: N concurrent first requests on a fresh lazy client ------------------------------------------
		// The requests are held at the door until all N have arrived; only then are the client's store and the limiter
		// made (nothing touched the client before) and all N let through in one turn: the seed's cold herd, over HTTP,
		// whatever the timing of autocannon's connections.
		const coldRequests = 500;
		const coldStart = async (makeStore: (client: Redis) => Store): Promise<ColdStartStats> => {
			const client = newClient();
			const connects = countConnects(client);
			let arrived = 0;
			let open!: (limiter: RequestHandler) => void;
			const door = new Promise<RequestHandler>(resolve => {
				open = resolve;
			});
			const {server, url} = await listen(appWith(async (request, response, next) => {
				if (++arrived === coldRequests) {
					// Made inside a request on purpose (so that nothing touches the client earlier): express-rate-limit's check
					// for that mistake is off here.
					open(limiterFor(makeStore(client), {creationStack: false}));
				}

				(await door)(request, response, next);
			}));
			try {
				const result = await load(url, {connections: coldRequests, amount: coldRequests, timeout: 30});
				const status = Object.fromEntries(Object.entries(result.statusCodeStats ?? {})
					.map(([code, stats]) => [code, stats?.count ?? 0]));
				const errors = Object.entries(status).filter(([code]) => code.startsWith('5')).reduce((sum, [, count]) => sum + count, 0)
					+ result.errors + result.timeouts;
				return {requests: coldRequests, errors, connectCalls: connects.count, status};
			} finally {
				await close(server);
			}
		};

		progress(`http: cold start · guarded (${coldRequests} concurrent first requests)`);
		const coldGuarded = await coldStart(client => fallbackStore(client, 'bench:cold:g:'));
		progress(`http: cold start · rateLimitRedis (${coldRequests} concurrent first requests)`);
		const coldRateLimitRedis = await coldStart(client => rateLimitRedisStore(client, 'bench:cold:r:'));

		const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
		return {
			connections,
			durationS,
			rounds,
			memory,
			guarded,
			rateLimitRedis,
			guardedVsRateLimitRedis: ratio(guarded.requestsPerSecond, rateLimitRedis.requestsPerSecond),
			guardedVsMemory: ratio(guarded.requestsPerSecond, memory.requestsPerSecond),
			coldStart: {guarded: coldGuarded, rateLimitRedis: coldRateLimitRedis},
		};
	} finally {
		for (const client of clients) {
			client.disconnect();
		}
	}
}
