/*
npm run soak -- [--seconds S] [--rate R] [--restart-every S] [--json]

Requests at a steady rate through FallbackRateLimitStore (guarded Redis store, Prisma on a temporary SQLite file) while
a private redis-server is killed and restarted every few seconds. Prints a summary, or with --json exactly one object:
{requests, decidedByRedis, decidedByFallback, failed, restarts, maxDecisionMs, listenerDrift, rssGrowthMb}.
Expected: failed 0, decidedByRedis + decidedByFallback == requests, listenerDrift 0, bounded rssGrowthMb.
*/
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {Redis} from 'ioredis';
import {guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore} from '../examples/rate-limit/fallback-store.js';
import {createRateLimitPrisma} from '../examples/rate-limit/prisma-clients.js';
import {PrismaRateLimitStore} from '../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore} from '../examples/rate-limit/redis-store.js';
import {RedisServer} from '../__tests__/servers/redis-server.js';

const {values: flags} = parseArgs({
	options: {
		seconds: {type: 'string', default: '30'},
		rate: {type: 'string', default: '400'},
		'restart-every': {type: 'string', default: '3'},
		json: {type: 'boolean', default: false},
	},
});

const seconds = Number(flags.seconds);
const rate = Number(flags.rate);
const restartEvery = Number(flags['restart-every']);
for (const [name, value] of Object.entries({seconds, rate, 'restart-every': restartEvery})) {
	if (!Number.isFinite(value) || value <= 0) {
		console.error(`--${name} must be a positive number`);
		process.exit(2);
	}
}

const log = (text: string) => {
	if (!flags.json) {
		console.error(text);
	}
};

const listenerCount = (client: Redis) => client.eventNames().reduce((sum, name) => sum + client.listenerCount(name), 0);

const server = await RedisServer.start();
const sqliteDir = mkdtempSync(join(tmpdir(), 'connection-guard-soak-'));
const {prisma} = await createRateLimitPrisma(`file:${join(sqliteDir, 'soak.db')}`);
const client = new Redis({
	port: server.port,
	lazyConnect: true,
	retryStrategy: (times: number) => Math.min(times * 50, 500),
	maxRetriesPerRequest: 1,
	autoResendUnfulfilledCommands: false,
	disconnectTimeout: 100,
});
client.on('error', () => undefined);
const guard = guardedRedis(client);
const redisStore = new RedisRateLimitStore({redis: guard, windowMs: 60_000, prefix: 'soak:', timeoutMs: 500});
const prismaStore = new PrismaRateLimitStore({prisma, windowMs: 60_000, prefix: 'soak:'});
const store = new FallbackRateLimitStore(redisStore, prismaStore, {cooldownMs: 500, logger: {warn: log, info: log}});

// Warm up, then take the baselines.
await guard.ensureConnected();
await store.increment('warmup');
const listenersAtStart = listenerCount(client);
const rssAtStart = process.memoryUsage().rss;

let requests = 0;
let decidedByRedis = 0;
let decidedByFallback = 0;
let failed = 0;
let restarts = 0;
let maxDecisionMs = 0;
const inFlight = new Set<Promise<void>>();

function request(index: number) {
	requests++;
	const started = performance.now();
	const done = store.incrementDetailed(`user-${index % 100}`).then(({decidedBy}) => {
		if (decidedBy === 'primary') {
			decidedByRedis++;
		} else {
			decidedByFallback++;
		}
	}, () => {
		failed++;
	}).finally(() => {
		maxDecisionMs = Math.max(maxDecisionMs, performance.now() - started);
		inFlight.delete(done);
	});
	inFlight.add(done);
}

const endAt = Date.now() + (seconds * 1000);
const tickMs = 10;
let sent = 0;
const startedAt = Date.now();
const ticker = setInterval(() => {
	// Steady rate: as many requests as are due by now.
	const due = Math.min(Math.floor(((Date.now() - startedAt) / 1000) * rate), Math.floor(seconds * rate));
	while (sent < due) {
		request(sent++);
	}
}, tickMs);

let restarting: Promise<void> = Promise.resolve();
const restarter = setInterval(() => {
	restarting = restarting.then(async () => {
		await server.kill();
		await new Promise(resolve => {
			setTimeout(resolve, 200);
		});
		await server.restart();
		restarts++;
		log(`restart ${restarts}: ${requests} requests so far (${decidedByFallback} from the fallback)`);
	});
}, restartEvery * 1000);

await new Promise(resolve => {
	setTimeout(resolve, Math.max(0, endAt - Date.now()));
});
clearInterval(ticker);
clearInterval(restarter);
await restarting;
await Promise.all(inFlight);
// Any attempt the guard still has open settles once Redis is reachable again.
await guard.ensureConnected({timeoutMs: 10_000}).catch(() => undefined);
await new Promise(resolve => {
	setImmediate(resolve);
});

const result = {
	requests,
	decidedByRedis,
	decidedByFallback,
	failed,
	restarts,
	maxDecisionMs: Math.round(maxDecisionMs * 10) / 10,
	listenerDrift: listenerCount(client) - listenersAtStart,
	rssGrowthMb: Math.round(((process.memoryUsage().rss - rssAtStart) / 1024 / 1024) * 10) / 10,
};

await guard.close();
await prisma.$disconnect();
await server.stop();
rmSync(sqliteDir, {recursive: true, force: true});

if (flags.json) {
	process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
	console.log(result);
	const ok = result.failed === 0 && result.listenerDrift === 0
		&& result.decidedByRedis + result.decidedByFallback === result.requests;
	console.log(ok ? 'soak: OK' : 'soak: FAILED');
	process.exitCode = ok ? 0 : 1;
}
