/*
npm run bench [-- --quick] [--json] [--json-file FILE] [--section outage|abuse|isolated|algorithms|happy] [--charts DIR]
              [--configurations a,b --scenarios kill,startup (outage section only)]

Side by side, in one run, on one machine (private redis-server on a free port, or REDIS_URL):
1. Hot path: `await guard.ensureConnected()` on a ready client vs. the floor (an inline `status === 'ready'` check) vs.
   p-memoize `{cache: false}` around a connect-if-needed function vs. the "connecting promise" snippet. mitata, ns/op.
2. Cold herd: N concurrent callers on a fresh lazy client: connect() calls, errors, time until all settled.
3. End to end: ops/s of the example RedisRateLimitStore.increment (guarded) vs. the same Lua script through raw ioredis
   vs. rate-limiter-flexible RateLimiterRedis.consume vs. rate-limit-redis RedisStore.increment (ioredis `call` as its
   sendCommand), and FallbackRateLimitStore over the guarded store; concurrency 64, interleaved rounds, median.
4. HTTP (bench/http.ts): Express + express-rate-limit with its MemoryStore, our fallback store over a guarded client,
   and rate-limit-redis, under autocannon in a child process; then a cold start of 500 concurrent first requests.
5. Abuse (bench/abuse.ts): 90 % of requests from 10 keys far over their limit, 10 % from 10,000 keys under it, over
   HTTP and at store level, ours against rate-limit-redis, rate-limiter-flexible with `inMemoryBlockOnConsumed` and
   MemoryStore; Redis commands counted by the server, hits admitted over the limit counted per key; a chart
   (abuse-mix.svg). `--section abuse` (npm run bench:abuse) runs this section alone, on its own private redis-server.
6. Outages (bench/outage.ts): ours and what users pick instead while Redis is killed, frozen, absent at startup and
   flushed of its scripts, under HTTP load; SVG charts into --charts (default: bench/ for a full run, .tmp/ for
   --quick, which runs ours and the peers most apps use only).
   `--section outage` (npm run bench:outage) runs this section alone.
7. Isolated (bench/isolated.ts): the happy-path, store-level and HTTP rows again, each configuration in its own process
   (one client family, one store, as in an app), interleaved rounds, each goal's ratio per round; one `mixed` process
   runs every family through the guard first. `--section isolated` runs this section alone (about 4 minutes).
Markdown on stdout (progress on stderr); --json prints exactly one object instead, with `storeVsRateLimitRedis`,
`fallbackStoreVsRateLimitRedis`, `http` (`guardedVsRateLimitRedis`, `guardedVsMemory`, `coldStart`), `abuse`
(`redisCommandsPerRequest`, `storeVsRateLimitRedis`, `storeVsRateLimiterFlexible`, `httpVsRateLimitRedis`,
`httpVsMemory`, `overAdmitted`, `errors`), `outage.<scenario>.<configuration>`, `outageLikeForLike` and `isolated`
(each goal's ratio per round: `median`, `min`, `max`, `perRound`) at the top.
--json-file writes that object to a file as well, next to the Markdown (bench/runs.ts uses it).
*/
import {tracingChannel} from 'node:diagnostics_channel';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {cpus, tmpdir, totalmem} from 'node:os';
import {join} from 'node:path';
import {performance} from 'node:perf_hooks';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {Redis} from 'ioredis';
import {measure} from 'mitata';
import pMemoize from 'p-memoize';
import {RedisStore as RateLimitRedisStore} from 'rate-limit-redis';
import {RateLimiterRedis} from 'rate-limiter-flexible';
import {channels, guardedRedis} from 'connection-guard';
import {FallbackRateLimitStore} from '../examples/rate-limit/fallback-store.js';
import {createRateLimitPrisma, type RateLimitPrisma} from '../examples/rate-limit/prisma-clients.js';
import {PrismaRateLimitStore} from '../examples/rate-limit/prisma-store.js';
import {RedisRateLimitStore, incrementScript, type RedisConnectionSource} from '../examples/rate-limit/redis-store.js';
import {RedisServer} from '../__tests__/servers/redis-server.js';
import {variants} from '../examples/demo/variants.js';
import {abuseBench, abuseMarkdown, type AbuseResult} from './abuse.js';
import {algorithmsBench, algorithmsMarkdown} from './algorithms.js';
import {httpBench} from './http.js';
import {isolatedBench, isolatedMarkdown} from './isolated.js';
import {outageBench, outageMarkdown, type OutageResult, type Scenario} from './outage.js';

const {values: flags} = parseArgs({options: {
	quick: {type: 'boolean', default: false},
	json: {type: 'boolean', default: false},
	// Also write the JSON object to this file (the Markdown still goes to stdout): one run, both forms.
	'json-file': {type: 'string'},
	section: {type: 'string', default: 'all'},
	charts: {type: 'string'},
	// The outage section only: a comma-separated subset of its configurations and scenarios (to profile one, say).
	configurations: {type: 'string'},
	scenarios: {type: 'string'},
	// The happy section only (`--section happy`: hot path, cold herd, end to end, as a full run starts): what the
	// end-to-end rows see inside the bench process, for "Where the time goes" in RESULTS.md. `--alone` skips the hot path
	// and the herd before it; `--operations a,b` measures a subset of the end-to-end rows; `--round-ms` their length.
	alone: {type: 'boolean', default: false},
	operations: {type: 'string'},
	'round-ms': {type: 'string'},
}});
const quick = flags.quick;
if (!['all', 'outage', 'abuse', 'isolated', 'happy', 'algorithms'].includes(flags.section)) {
	throw new RangeError(`Expected \`--section\` to be \`all\`, \`outage\`, \`abuse\`, \`isolated\`, \`happy\` or \`algorithms\`, got \`${flags.section}\``);
}

const outageSubset = {
	...flags.configurations && {configurations: flags.configurations.split(',')},
	...flags.scenarios && {scenarios: flags.scenarios.split(',') as Scenario[]},
};

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const chartsDir = flags.charts ?? (quick ? join(benchDir, '..', '.tmp', 'outage-charts') : benchDir);

const progress = (text: string) => {
	if (process.stderr.isTTY) {
		process.stderr.write(`\r\u001B[2K${text}`);
	} else {
		process.stderr.write(`${text}\n`);
	}
};

const median = (values: number[]) => {
	const sorted = [...values].sort((a, b) => a - b);
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

// --- Redis ----------------------------------------------------------------------------------------------------------

let server: RedisServer | undefined;
let target: {host: string; port: number};
if (process.env.REDIS_URL) {
	const url = new URL(process.env.REDIS_URL);
	target = {host: url.hostname, port: Number(url.port || 6379)};
} else {
	server = await RedisServer.start();
	target = {host: '127.0.0.1', port: server.port};
}

const clients: Redis[] = [];
function newClient(lazy = true): Redis {
	// `autoResendUnfulfilledCommands: false`: what the rate-limit store asks for (it warns otherwise); it changes
	// nothing while the connection stays up, so every row here gets it.
	const client = new Redis({
		...target, lazyConnect: lazy, maxRetriesPerRequest: 1, autoResendUnfulfilledCommands: false,
	});
	client.on('error', () => undefined);
	clients.push(client);
	return client;
}

/** A subscriber on both of the guard's TracingChannels (what an APM or the Prometheus example attaches). */
function subscribeToGuardChannels(): () => void {
	const contexts = new WeakSet<object>();
	const record = (context: object) => {
		contexts.add(context);
	};

	const subscriber = {start: record, end: record, asyncStart: record, asyncEnd: record, error: record};
	const subscribed = [tracingChannel(channels.connect), tracingChannel(channels.ensureConnected)];
	for (const channel of subscribed) {
		channel.subscribe(subscriber);
	}

	return () => {
		for (const channel of subscribed) {
			channel.unsubscribe(subscriber);
		}
	};
}

// --- 1. Hot path ----------------------------------------------------------------------------------------------------

async function hotPath() {
	const client = newClient();
	// The snippet must make the first connect itself (it tracks readiness in its own flag).
	const snippet = variants.connectingPromise(client as never);
	await snippet.ensureConnected();
	const guard = guardedRedis(client);
	const memoized = pMemoize(async () => {
		if (client.status !== 'ready') {
			await client.connect();
		}

		return client;
	}, {cache: false});
	const callGuard = async () => {
		await guard.ensureConnected();
	};

	// Each candidate awaits its way to a ready client, exactly as an app's request handler would.
	const candidates: Record<string, () => Promise<void>> = {
		async floor() {
			await (client.status === 'ready' ? client : client.connect());
		},
		guarded: callGuard,
		// The very same function while a subscriber listens on both channels (subscribed only while it runs): one function,
		// so both rows measure one piece of optimised code and differ only by the subscriber.
		guardedWithSubscriber: callGuard,
		async pMemoize() {
			await memoized();
		},
		async snippet() {
			await snippet.ensureConnected();
		},
	};
	const samples: Record<string, number[]> = Object.fromEntries(Object.keys(candidates).map(name => [name, []]));
	const rounds = quick ? 3 : 7;
	for (let index = 0; index < rounds; index++) {
		// Interleaved: each round measures every candidate once, in a rotating order.
		const names = Object.keys(candidates);
		const order = [...names.slice(index % names.length), ...names.slice(0, index % names.length)];
		for (const name of order) {
			progress(`hot path: round ${index + 1}/${rounds} · ${name}`);
			const unsubscribe = name === 'guardedWithSubscriber' ? subscribeToGuardChannels() : undefined;
			// eslint-disable-next-line no-await-in-loop
			const stats = await measure(candidates[name]!, {min_cpu_time: (quick ? 150 : 600) * 1e6});
			unsubscribe?.();
			samples[name]!.push(stats.p50);
		}
	}

	const ns = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));
	return {
		floorNs: round(ns.floor!),
		guardedNs: round(ns.guarded!),
		guardedWithSubscriberNs: round(ns.guardedWithSubscriber!),
		pMemoizeNs: round(ns.pMemoize!),
		snippetNs: round(ns.snippet!),
		ratioToFloor: round(ns.guarded! / ns.floor!, 3),
		withSubscriberRatioToFloor: round(ns.guardedWithSubscriber! / ns.floor!, 3),
		pMemoizeRatioToFloor: round(ns.pMemoize! / ns.floor!, 3),
		snippetRatioToFloor: round(ns.snippet! / ns.floor!, 3),
	};
}

/*
The same call with and without a subscriber, alternating plain loops of a million awaited calls on one ready guard.
mitata measures two entries of the same function differently (by their position in its run), so this is the comparison
that says whether a subscriber costs the fast path anything.
*/
async function subscriberOnHotPath() {
	const client = newClient();
	const guard = guardedRedis(client);
	await guard.ensureConnected();
	const call = async () => {
		await guard.ensureConnected();
	};

	const perCall = async (calls: number) => {
		const started = process.hrtime.bigint();
		for (let index = 0; index < calls; index++) {
			// eslint-disable-next-line no-await-in-loop
			await call();
		}

		return Number(process.hrtime.bigint() - started) / calls;
	};

	const calls = quick ? 200_000 : 1_000_000;
	await perCall(calls);
	const without: number[] = [];
	const withSubscriber: number[] = [];
	for (let round = 0; round < (quick ? 3 : 7); round++) {
		progress(`hot path with/without a subscriber: round ${round + 1}`);
		// eslint-disable-next-line no-await-in-loop
		without.push(await perCall(calls));
		const unsubscribe = subscribeToGuardChannels();
		// eslint-disable-next-line no-await-in-loop
		withSubscriber.push(await perCall(calls));
		unsubscribe();
	}

	return {withoutNs: round(median(without)), withSubscriberNs: round(median(withSubscriber))};
}

// --- 2. Cold herd ---------------------------------------------------------------------------------------------------

type HerdRow = {n: number; variant: string; connectCalls: number; errors: number; allSettledMs: number};

async function herd(): Promise<HerdRow[]> {
	const rows: HerdRow[] = [];
	for (const n of [10, 100, 1000, 10_000]) {
		for (const variant of ['guarded', 'guarded, traced', 'naive', 'snippet'] as const) {
			progress(`cold herd: N=${n} · ${variant}`);
			const unsubscribe = variant === 'guarded, traced' ? subscribeToGuardChannels() : undefined;
			const client = newClient();
			let connectCalls = 0;
			const connect = client.connect.bind(client);
			client.connect = async () => {
				connectCalls++;
				return connect();
			};

			const source: RedisConnectionSource = variant.startsWith('guarded')
				? guardedRedis(client)
				: variant === 'naive' ? variants.naive(client) : variants.connectingPromise(client);
			const started = performance.now();
			// eslint-disable-next-line no-await-in-loop
			const outcomes = await Promise.allSettled(Array.from({length: n}, async () => source.ensureConnected()));
			rows.push({
				n,
				variant,
				connectCalls,
				errors: outcomes.filter(outcome => outcome.status === 'rejected').length,
				allSettledMs: round(performance.now() - started),
			});
			unsubscribe?.();
			client.disconnect();
		}
	}

	return rows;
}

// --- 3. End to end --------------------------------------------------------------------------------------------------

async function endToEnd(prisma: RateLimitPrisma) {
	const concurrency = 64;
	const client = newClient(false);
	await new Promise(resolve => {
		client.once('ready', resolve);
	});
	client.defineCommand('benchRawIncrement', {numberOfKeys: 1, lua: incrementScript.lua});
	const raw = client as Redis & {benchRawIncrement(key: string, windowMs: number): Promise<[number, number]>};

	const guardedStore = new RedisRateLimitStore({redis: guardedRedis(client), windowMs: 60_000, prefix: 'bench:g:'});
	// What an app copies: the guarded Redis store behind the circuit breaker, with the Prisma (SQLite) fallback unused.
	const fallbackStore = new FallbackRateLimitStore(
		new RedisRateLimitStore({redis: guardedRedis(client), windowMs: 60_000, prefix: 'bench:fb:'}),
		new PrismaRateLimitStore({prisma, windowMs: 60_000, prefix: 'bench:fb:', cleanupIntervalMs: 0}),
	);
	// The same store on a source that is no guard at all (the client is known to be ready): isolates the guard's cost.
	const ready = Promise.resolve(client);
	const unguarded: RedisConnectionSource<Redis> = {
		client,
		ensureConnected: async () => ready,
		run: async fn => fn(client),
	};
	const unguardedStore = new RedisRateLimitStore({
		redis: unguarded,
		windowMs: 60_000,
		prefix: 'bench:u:',
	});
	const flexible = new RateLimiterRedis({storeClient: client, points: 1e9, duration: 60, keyPrefix: 'bench:f'});
	const rateLimitRedis = new RateLimitRedisStore({
		sendCommand: async (command: string, ...arguments_: string[]) => client.call(command, ...arguments_) as never,
		prefix: 'bench:r:',
	});
	void rateLimitRedis.init({windowMs: 60_000} as never);

	// guard.run() against the bare command it wraps: the price of its deadline and lost-connection watch when ready.
	const runGuard = guardedRedis(client, {timeoutMs: 1000});
	const operations: Record<string, (key: string) => Promise<unknown>> = {
		bareGet: async key => client.get(`bench:get:${key}`),
		// fn as the README writes it: returning the command's own promise (an `async` fn would add one promise of its own).
		runGet: async key => runGuard.run(redis => redis.get(`bench:get:${key}`)),
		raw: async key => raw.benchRawIncrement(`bench:raw:${key}`, 60_000),
		guarded: async key => guardedStore.increment(key),
		fallback: async key => fallbackStore.increment(key),
		unguardedStore: async key => unguardedStore.increment(key),
		rateLimiterFlexible: async key => flexible.consume(key),
		rateLimitRedis: async key => rateLimitRedis.increment(key),
	};

	if (flags.operations) {
		const keep = new Set(flags.operations.split(','));
		for (const name of Object.keys(operations)) {
			if (!keep.has(name)) {
				// A subset measures only what it names; the rows left out read NaN.
				delete operations[name];
			}
		}
	}

	const roundMs = flags['round-ms'] ? Number(flags['round-ms']) : (quick ? 400 : 2000);
	const rounds = quick ? 5 : 9;
	const opsPerSecond: Record<string, number[]> = Object.fromEntries(Object.keys(operations).map(name => [name, []]));

	// This process's CPU time per operation (user + system, µs), over all rounds: steadier than ops/s on a busy machine.
	const cpuUs: Record<string, {us: number; ops: number}> = Object.fromEntries(Object.keys(operations)
		.map(name => [name, {us: 0, ops: 0}]));
	async function runRound(operation: (key: string) => Promise<unknown>, name?: string) {
		const cpuBefore = process.cpuUsage();
		let ops = 0;
		const endAt = performance.now() + roundMs;
		const worker = async (id: number) => {
			let index = id;
			while (performance.now() < endAt) {
				// eslint-disable-next-line no-await-in-loop
				await operation(`k${index % 1000}`);
				ops++;
				index += concurrency;
			}
		};

		const started = performance.now();
		await Promise.all(Array.from({length: concurrency}, async (_, id) => worker(id)));
		if (name) {
			const used = process.cpuUsage(cpuBefore);
			cpuUs[name]!.us += used.user + used.system;
			cpuUs[name]!.ops += ops;
		}

		return ops / ((performance.now() - started) / 1000);
	}

	// Warm-up: load scripts, JIT, connections.
	for (const operation of Object.values(operations)) {
		// eslint-disable-next-line no-await-in-loop
		await Promise.all(Array.from({length: 200}, async (_, index) => operation(`warm${index}`)));
	}

	for (let index = 0; index < rounds; index++) {
		const names = Object.keys(operations);
		const order = [...names.slice(index % names.length), ...names.slice(0, index % names.length)];
		for (const name of order) {
			progress(`end to end: round ${index + 1}/${rounds} · ${name}`);
			// eslint-disable-next-line no-await-in-loop
			opsPerSecond[name]!.push(await runRound(operations[name]!, name));
		}
	}

	const ops = Object.fromEntries(Object.entries(opsPerSecond).map(([name, values]) => [name, median(values)]));
	return {
		concurrency,
		rounds,
		roundMs,
		bareGetOps: Math.round(ops.bareGet!),
		runGetOps: Math.round(ops.runGet!),
		// Time per operation, run() over bare (goal ≤ 1.1).
		runVsBareGet: round(ops.bareGet! / ops.runGet!, 3),
		rawOps: Math.round(ops.raw!),
		guardedOps: Math.round(ops.guarded!),
		unguardedStoreOps: Math.round(ops.unguardedStore!),
		rateLimiterFlexibleOps: Math.round(ops.rateLimiterFlexible!),
		rateLimitRedisOps: Math.round(ops.rateLimitRedis!),
		guardedVsRaw: round(ops.guarded! / ops.raw!, 3),
		guardedVsUnguardedStore: round(ops.guarded! / ops.unguardedStore!, 3),
		guardedVsRateLimiterFlexible: round(ops.guarded! / ops.rateLimiterFlexible!, 3),
		guardedVsRateLimitRedis: round(ops.guarded! / ops.rateLimitRedis!, 3),
		fallbackOps: Math.round(ops.fallback!),
		fallbackVsRateLimitRedis: round(ops.fallback! / ops.rateLimitRedis!, 3),
		fallbackVsRedisStore: round(ops.fallback! / ops.guarded!, 3),
		cpuUsPerOp: Object.fromEntries(Object.entries(cpuUs).map(([name, {us, ops}]) => [name, round(us / ops)])),
	};
}

// --- Run ------------------------------------------------------------------------------------------------------------

const machine = {
	cpu: cpus()[0]?.model ?? 'unknown',
	cores: cpus().length,
	memoryGb: round(totalmem() / 1024 ** 3, 1),
	node: process.version,
	redis: server ? `redis-server (private, 127.0.0.1:${target.port})` : `REDIS_URL ${target.host}:${target.port}`,
	quick,
};

const sqliteDir = mkdtempSync(join(tmpdir(), 'connection-guard-bench-'));
const {prisma} = await createRateLimitPrisma(`file:${join(sqliteDir, 'rate-limit.db')}`);
try {
	if (flags.section === 'outage') {
		const outage = await outageBench({prisma, quick, chartsDir, progress, ...outageSubset});
		progress('');
		output({machine, outage: outage.results, outageLikeForLike: outage.likeForLike, outageRun: outageRun(outage)});
		if (!flags.json) {
			console.log([machineLine(), '', ...outageMarkdown(outage, chartsLink())].join('\n'));
		}
	} else if (flags.section === 'happy') {
		const hot = flags.alone ? undefined : {...await hotPath(), loop: await subscriberOnHotPath()};
		const herdRows = flags.alone ? undefined : await herd();
		const e2e = await endToEnd(prisma);
		progress('');
		output({machine, runVsBareGet: e2e.runVsBareGet, hotPath: hot, herd: herdRows, e2e});
	} else if (flags.section === 'isolated') {
		const isolated = await isolatedBench({target, quick, progress, median});
		progress('');
		output({machine, isolated});
		if (!flags.json) {
			console.log([machineLine(), '', ...isolatedMarkdown(isolated)].join('\n'));
		}
	} else if (flags.section === 'algorithms') {
		const client = newClient(false);
		const algorithms = await algorithmsBench({client, port: target.port, prisma, quick, progress, median});
		progress('');
		output({machine, algorithms});
		if (!flags.json) {
			console.log([machineLine(), '', ...algorithmsMarkdown(algorithms)].join('\n'));
		}
	} else if (flags.section === 'abuse') {
		const abuse = await abuseBench({prisma, quick, chartsDir, progress, median});
		progress('');
		output({machine, abuse});
		if (!flags.json) {
			console.log([machineLine(), '', ...abuseMarkdown(abuse, chartsLink())].join('\n'));
		}
	} else {
		const hot = {...await hotPath(), loop: await subscriberOnHotPath()};
		const herdRows = await herd();
		const e2e = await endToEnd(prisma);
		const http = await httpBench({target, prisma, quick, progress, median});
		const abuse = await abuseBench({prisma, quick, chartsDir, progress, median});
		const outage = await outageBench({prisma, quick, chartsDir, progress});
		const isolated = await isolatedBench({target, quick, progress, median});
		progress('');
		const result = {
			machine,
			runVsBareGet: e2e.runVsBareGet,
			hotPath: hot,
			herd: herdRows,
			e2e,
			storeVsRateLimitRedis: e2e.guardedVsRateLimitRedis,
			fallbackStoreVsRateLimitRedis: e2e.fallbackVsRateLimitRedis,
			fallbackStoreVsRedisStore: e2e.fallbackVsRedisStore,
			http,
			abuse,
			outage: outage.results,
			outageLikeForLike: outage.likeForLike,
			outageRun: outageRun(outage),
			isolated,
		};
		output(result);
		if (!flags.json) {
			console.log([markdown(result, outage, abuse), '', ...isolatedMarkdown(isolated)].join('\n'));
		}
	}
} finally {
	for (const client of clients) {
		client.disconnect();
	}

	await prisma.$disconnect();
	rmSync(sqliteDir, {recursive: true, force: true});
	await server?.stop();
}

/** The JSON object: on stdout with `--json`, into the file with `--json-file`. */
function output(result: object): void {
	const json = `${JSON.stringify(result)}\n`;
	if (flags['json-file']) {
		writeFileSync(flags['json-file'], json);
	}

	if (flags.json) {
		process.stdout.write(json);
	}
}

/** What the outage section ran: its timeline, load and limits (the rows are `outage`). */
function outageRun({timeline, scriptFlushTimeline, connections, limit, cooldownMs, storeTimeoutMs}: OutageResult) {
	return {timeline, scriptFlushTimeline, connections, limit, cooldownMs, storeTimeoutMs, charts: chartsDir};
}

/** The charts as RESULTS.md (in bench/) links them. */
function chartsLink(): string {
	return chartsDir === benchDir ? './' : `${chartsDir}/`;
}

function machineLine(): string {
	return `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB, Node ${machine.node}; ${machine.redis}${quick ? ' (--quick)' : ''}`;
}

type BenchResult = {
	machine: typeof machine;
	hotPath: Awaited<ReturnType<typeof hotPath>> & {loop: Awaited<ReturnType<typeof subscriberOnHotPath>>};
	herd: HerdRow[];
	e2e: Awaited<ReturnType<typeof endToEnd>>;
	http: Awaited<ReturnType<typeof httpBench>>;
};

function markdown(result: BenchResult, outage: OutageResult, abuse: AbuseResult) {
	const {hotPath: hot, herd: rows, e2e, http} = result;
	return [
		machineLine(),
		'',
		'### Hot path: `await ensureConnected()` on a ready client (mitata p50, median of interleaved rounds)',
		'',
		'| candidate | ns/op | × floor |',
		'|---|---:|---:|',
		`| floor: inline \`status === 'ready'\` check | ${hot.floorNs} | 1.00 |`,
		`| **guardedRedis** | ${hot.guardedNs} | ${hot.ratioToFloor.toFixed(2)} |`,
		`| guardedRedis with a subscriber on both TracingChannels | ${hot.guardedWithSubscriberNs} | ${hot.withSubscriberRatioToFloor.toFixed(2)} |`,
		`| p-memoize \`{cache: false}\` around connect-if-needed | ${hot.pMemoizeNs} | ${hot.pMemoizeRatioToFloor.toFixed(2)} |`,
		`| "connecting promise" snippet | ${hot.snippetNs} | ${hot.snippetRatioToFloor.toFixed(2)} |`,
		'',
		`The same call in alternating plain loops (median ns per awaited call): no subscriber ${hot.loop.withoutNs},`
			+ ` a subscriber on both TracingChannels ${hot.loop.withSubscriberNs}.`,
		'',
		'### Cold herd: N concurrent callers on a fresh lazy client',
		'',
		'| N | variant | connect() calls | errors | all settled (ms) |',
		'|---:|---|---:|---:|---:|',
		...rows.map(row => `| ${row.n} | ${row.variant} | ${row.connectCalls} | ${row.errors} | ${row.allSettledMs} |`),
		'',
		`### End to end: rate-limit increments, concurrency ${e2e.concurrency}, median of ${e2e.rounds} interleaved ${e2e.roundMs} ms rounds`,
		'',
		'| store | ops/s | guarded ÷ it |',
		'|---|---:|---:|',
		`| same Lua script through raw ioredis (no guard) | ${e2e.rawOps} | ${e2e.guardedVsRaw.toFixed(3)} |`,
		`| **RedisRateLimitStore (guarded)** | ${e2e.guardedOps} | 1.000 |`,
		`| RedisRateLimitStore on a plain ready client (no guard) | ${e2e.unguardedStoreOps} | ${e2e.guardedVsUnguardedStore.toFixed(3)} |`,
		`| rate-limiter-flexible RateLimiterRedis.consume | ${e2e.rateLimiterFlexibleOps} | ${e2e.guardedVsRateLimiterFlexible.toFixed(3)} |`,
		`| rate-limit-redis RedisStore.increment | ${e2e.rateLimitRedisOps} | ${e2e.guardedVsRateLimitRedis.toFixed(3)} |`,
		`| FallbackRateLimitStore over the guarded store (Prisma fallback idle) | ${e2e.fallbackOps} | — |`,
		'',
		`The guard's own share: the store on the guard ÷ the same store with no guard = ${e2e.guardedVsUnguardedStore.toFixed(3)}.`,
		`\`guard.run(c => c.get(k))\` on a ready client: ${e2e.runGetOps} ops/s against ${e2e.bareGetOps} for a bare`
			+ ` \`await client.get(k)\`: ${e2e.runVsBareGet.toFixed(3)}× the time per operation (goal ≤ 1.1×).`,
		`Against rate-limit-redis: RedisRateLimitStore ${e2e.guardedVsRateLimitRedis.toFixed(3)}×,`
			+ ` FallbackRateLimitStore over it ${e2e.fallbackVsRateLimitRedis.toFixed(3)}×.`
			+ ` The fallback store (tracking keys for outages) ÷ the Redis store alone: ${e2e.fallbackVsRedisStore.toFixed(3)}.`,
		'',
		`### HTTP: Express + express-rate-limit under autocannon (${http.connections} connections, median of ${http.rounds} interleaved ${http.durationS} s rounds, load in a child process)`,
		'',
		'| store | requests/s | p50 ms | p99 ms | non-2xx | errors |',
		'|---|---:|---:|---:|---:|---:|',
		...(['memory', 'guarded', 'rateLimitRedis'] as const).map(name => {
			const row = http[name];
			const label = {memory: '(a) MemoryStore (no network)', guarded: '**(b) FallbackRateLimitStore over guarded ioredis**', rateLimitRedis: '(c) rate-limit-redis'}[name];
			return `| ${label} | ${row.requestsPerSecond} | ${row.p50Ms} | ${row.p99Ms} | ${row.non2xx} | ${row.errors} |`;
		}),
		'',
		`(b) ÷ (c) = ${http.guardedVsRateLimitRedis.toFixed(3)}; (b) ÷ (a) = ${http.guardedVsMemory.toFixed(3)}.`,
		'',
		`Cold start: ${http.coldStart.guarded.requests} concurrent first requests on a fresh lazy client`,
		'',
		'| store | 5xx and socket errors | connect() calls | status codes |',
		'|---|---:|---:|---|',
		...(['guarded', 'rateLimitRedis'] as const).map(name => {
			const row = http.coldStart[name];
			return `| ${name === 'guarded' ? '(b) FallbackRateLimitStore over guarded ioredis' : '(c) rate-limit-redis'} | ${row.errors} | ${row.connectCalls} | ${JSON.stringify(row.status)} |`;
		}),
		'',
		...abuseMarkdown(abuse, chartsLink()),
		...outageMarkdown(outage, chartsLink()),
	].join('\n');
}
