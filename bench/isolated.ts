/*
What a user's process pays (issue 34): each configuration of the happy-path, store-level and HTTP rows in its own
process (bench/isolated-child.ts), one client family and one store per process as in an app, warmed up once, then
measured in interleaved rounds (every configuration once per round, in a rotating order, while the others sit idle).
Each goal's ratio is taken per round, from that round's two measurements, and reported as the median of the rounds with
their range. One `mixed` process keeps what the in-process rows see: ioredis, node-redis and ioredis-mock through the
same guard functions, then bare and guarded `get` in that process.

`npm run bench -- --section isolated` runs this alone (about 3–4 minutes); a full run includes it (`isolated` in the
JSON).
*/
import {execFile, fork, type ChildProcess} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';

const run = promisify(execFile);
const childFile = fileURLToPath(new URL('isolated-child.ts', import.meta.url));
const autocannonChild = fileURLToPath(new URL('autocannon-child.mjs', import.meta.url));
const abuseLoadChild = fileURLToPath(new URL('abuse-load-child.mjs', import.meta.url));

export type IsolatedOptions = {
	target: {host: string; port: number};
	quick: boolean;
	progress(text: string): void;
	median(values: number[]): number;
};

const configurations = [
	'happy.bareGet', 'happy.runGet', 'happy.bareGetNodeRedis', 'happy.runGetNodeRedis',
	'happy.store', 'happy.unguardedStore', 'happy.fallbackStore', 'happy.rateLimitRedis',
	'abuse.ours', 'abuse.oursRedis', 'abuse.rateLimitRedis', 'abuse.rateLimiterFlexible',
	'http.guarded', 'http.rateLimitRedis', 'http.memory',
	'abuseHttp.ours', 'abuseHttp.rateLimitRedis', 'abuseHttp.memory',
	'mixed.get',
] as const;
type Configuration = typeof configurations[number];
// --quick (CI, which judges only that it runs): the guard's own rows and the mixed one.
const quickConfigurations: readonly Configuration[] = [
	'happy.bareGet', 'happy.runGet', 'happy.store', 'happy.rateLimitRedis', 'mixed.get',
];

/** Each goal: `a ÷ b` per round; `time` ratios are b's ops over a's (time per operation). */
const ratios = {
	runVsBareGet: {a: 'happy.runGet', b: 'happy.bareGet', time: true},
	runVsBareGetNodeRedis: {a: 'happy.runGetNodeRedis', b: 'happy.bareGetNodeRedis', time: true},
	storeVsRateLimitRedis: {a: 'happy.store', b: 'happy.rateLimitRedis'},
	unguardedStoreVsRateLimitRedis: {a: 'happy.unguardedStore', b: 'happy.rateLimitRedis'},
	storeVsUnguardedStore: {a: 'happy.store', b: 'happy.unguardedStore'},
	fallbackStoreVsRateLimitRedis: {a: 'happy.fallbackStore', b: 'happy.rateLimitRedis'},
	abuseStoreVsRateLimitRedis: {a: 'abuse.ours', b: 'abuse.rateLimitRedis'},
	abuseStoreVsRateLimiterFlexible: {a: 'abuse.ours', b: 'abuse.rateLimiterFlexible'},
	abuseRedisStoreVsRateLimitRedis: {a: 'abuse.oursRedis', b: 'abuse.rateLimitRedis'},
	abuseHttpVsRateLimitRedis: {a: 'abuseHttp.ours', b: 'abuseHttp.rateLimitRedis'},
	abuseHttpVsMemory: {a: 'abuseHttp.ours', b: 'abuseHttp.memory'},
	httpVsRateLimitRedis: {a: 'http.guarded', b: 'http.rateLimitRedis'},
	httpVsMemory: {a: 'http.guarded', b: 'http.memory'},
} as const satisfies Record<string, {a: Configuration; b: Configuration; time?: boolean}>;

type Child = {process: ChildProcess; url?: string; answer?: (value: unknown) => void};

async function start(
	configuration: Configuration, target: {host: string; port: number}, quick: boolean,
): Promise<Child> {
	// BENCH_CHILD_NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=DIR`) goes to every child: to profile one as an app would.
	const extra = process.env.BENCH_CHILD_NODE_OPTIONS?.split(' ').filter(Boolean) ?? [];
	const child: Child = {
		process: fork(childFile, [JSON.stringify({configuration, ...target, quick})], {
			execArgv: ['--import', 'tsx', ...extra],
			stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
		}),
	};
	child.process.on('message', (message: {ready?: boolean; url?: string; value?: unknown}) => {
		child.answer?.(message);
	});
	const ready = await ask<{url?: string}>(child, undefined);
	child.url = ready.url;
	return child;
}

async function ask<T>(child: Child, message: object | undefined): Promise<T> {
	return new Promise((resolve, reject) => {
		const onExit = (code: number | null) => {
			reject(new Error(`isolated child exited with ${code}`));
		};

		child.process.once('exit', onExit);
		child.answer = value => {
			child.process.removeListener('exit', onExit);
			child.answer = undefined;
			resolve(value as T);
		};

		if (message) {
			child.process.send(message);
		}
	});
}

export async function isolatedBench({target, quick, progress, median}: IsolatedOptions) {
	const rounds = quick ? 1 : 5;
	const opsMs = quick ? 300 : 1200;
	const httpS = quick ? 1 : 3;
	const connections = 50;
	const measured = quick ? quickConfigurations : configurations;
	const children = new Map<Configuration, Child>();
	const values: Record<string, number[]> = Object.fromEntries(configurations.map(name => [name, []]));
	// The configuration's process's CPU time per operation or request (µs), per round: steadier than rates on a busy
	// machine, where a process's share of the cores moves between rounds.
	const cpu: Record<string, number[]> = Object.fromEntries(configurations.map(name => [name, []]));
	const mixed = {bare: [] as number[], run: [] as number[], bareCpu: [] as number[], runCpu: [] as number[]};
	// Failed calls at store level (a deadline passed on a stalled machine), per configuration; over HTTP, non-2xx.
	const errors: Record<string, number> = {};
	try {
		// Two at a time: the machine has few cores, and each child compiles its TypeScript on start.
		for (let index = 0; index < measured.length; index += 2) {
			const pair = measured.slice(index, index + 2);
			progress(`isolated: starting ${pair.join(', ')}`);
			// eslint-disable-next-line no-await-in-loop
			const started = await Promise.allSettled(pair.map(async name => start(name, target, quick)));
			// Kept before any failure is thrown, so that `finally` stops the one that did start as well.
			for (const [offset, outcome] of started.entries()) {
				if (outcome.status === 'fulfilled') {
					children.set(pair[offset]!, outcome.value);
				}
			}

			const failed = started.find(outcome => outcome.status === 'rejected');
			if (failed) {
				throw failed.reason;
			}
		}

		const load = async (name: Configuration, seed: number, settings: object): Promise<number> => {
			const child = children.get(name)!;
			const {url} = child;
			const before = await ask<{cpu: number}>(child, {cpu: true});
			const [file, options] = name.startsWith('abuseHttp.')
				? [abuseLoadChild, {url, connections, hotKeys: 10, coldKeys: 10_000, hotShare: 0.9, seed, ...settings}]
				: [autocannonChild, {url, connections, ...settings}];
			const {stdout} = await run(process.execPath, [file, JSON.stringify(options)], {maxBuffer: 2 ** 26});
			const after = await ask<{cpu: number}>(child, {cpu: true});
			type Counted = {
				requestsPerSecond?: number; requests: {average: number; total: number} | number;
				non2xx?: number; statusCodes?: Record<string, number>; errors: number; timeouts: number;
			};
			const result = JSON.parse(stdout) as Counted;
			// Under abuse most answers are 429 by design: only 5xx and socket errors count there.
			const failed = result.non2xx ?? Object.entries(result.statusCodes ?? {})
				.filter(([code]) => code.startsWith('5')).reduce((sum, [, count]) => sum + count, 0);
			errors[name] = (errors[name] ?? 0) + failed + result.errors + result.timeouts;
			const requests = typeof result.requests === 'number' ? result.requests : result.requests.total;
			cpu[name]!.push((after.cpu - before.cpu) / requests);
			return result.requestsPerSecond ?? (result.requests as {average: number}).average;
		};

		// HTTP warm-up: connections, scripts, JIT; under abuse, the hot keys past their limit.
		for (const name of measured.filter(name => name.startsWith('http.') || name.startsWith('abuseHttp.'))) {
			progress(`isolated: warm-up · ${name}`);
			// eslint-disable-next-line no-await-in-loop
			await load(name, 1, name.startsWith('abuseHttp.') ? {amount: 3000} : {amount: 2000});
			cpu[name]!.length = 0;
			errors[name] = 0;
		}

		for (let round = 0; round < rounds; round++) {
			const shift = round % measured.length;
			const order = [...measured.slice(shift), ...measured.slice(0, shift)];
			for (const name of order) {
				progress(`isolated: round ${round + 1}/${rounds} · ${name}`);
				const child = children.get(name)!;
				if (name.startsWith('http.') || name.startsWith('abuseHttp.')) {
					const settings = name.startsWith('abuseHttp.') ? {durationS: httpS} : {duration: httpS};
					// eslint-disable-next-line no-await-in-loop
					values[name]!.push(await load(name, 1000 + round, settings));
				} else if (name === 'mixed.get') {
					// eslint-disable-next-line no-await-in-loop
					const {value, errors: failed} = await ask<{
						value: Record<'bare' | 'run' | 'bareCpuUsPerOp' | 'runCpuUsPerOp', number>; errors: number;
					}>(
						child, {round, ms: 2 * opsMs, seed: 1000 + round},
					);
					mixed.bare.push(value.bare);
					mixed.run.push(value.run);
					mixed.bareCpu.push(value.bareCpuUsPerOp);
					mixed.runCpu.push(value.runCpuUsPerOp);
					errors[name] = (errors[name] ?? 0) + failed;
				} else {
					// eslint-disable-next-line no-await-in-loop
					const {value, cpuUsPerOp, errors: failed} = await ask<{value: number; cpuUsPerOp: number; errors: number}>(
						child, {round, ms: opsMs, seed: 1000 + round},
					);
					values[name]!.push(value);
					cpu[name]!.push(cpuUsPerOp);
					errors[name] = (errors[name] ?? 0) + failed;
				}
			}
		}
	} finally {
		await Promise.all([...children.values()].map(async child => {
			if (child.process.connected) {
				const exited = new Promise(resolve => child.process.once('exit', resolve));
				child.process.send({exit: true});
				await Promise.race([exited, new Promise(resolve => {
					setTimeout(resolve, 5000).unref();
				})]);
			}

			child.process.kill();
		}));
	}

	const roundTo = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;
	const summary = (perRound: number[]) => ({
		median: roundTo(median(perRound)),
		min: roundTo(Math.min(...perRound)),
		max: roundTo(Math.max(...perRound)),
		perRound: perRound.map(value => roundTo(value)),
	});
	// Per round, a over b (rates; for time ratios b's rate over a's); a configuration --quick leaves out reads null.
	const perRound = (a: Configuration, b: Configuration, time: boolean) => (
		values[a]!.length === 0 || values[b]!.length === 0)
		? [Number.NaN]
		: values[a]!.map((value, index) => time ? values[b]![index]! / value : value / values[b]![index]!);
	// The same from CPU time per operation: what the two would reach with a core each to themselves.
	const perRoundCpu = (a: Configuration, b: Configuration, time: boolean) => (
		cpu[a]!.length === 0 || cpu[b]!.length === 0)
		? [Number.NaN]
		: cpu[a]!.map((value, index) => time ? value / cpu[b]![index]! : cpu[b]![index]! / value);
	type Goal = keyof typeof ratios;
	const goals = Object.entries(ratios) as Array<[Goal, {a: Configuration; b: Configuration; time?: boolean}]>;
	type Stats = ReturnType<typeof summary>;
	const ratioRows = Object.fromEntries(goals.map(([goal, {a, b, time}]) =>
		[goal, summary(perRound(a, b, time === true))])) as Record<Goal, Stats>;
	const cpuRatios = Object.fromEntries(goals.map(([goal, {a, b, time}]) =>
		[goal, summary(perRoundCpu(a, b, time === true))])) as Record<Goal, Stats>;
	return {
		rounds,
		opsRoundMs: opsMs,
		httpRoundS: httpS,
		concurrency: 64,
		connections,
		...ratioRows,
		mixedRunVsBareGet: summary(mixed.bare.map((bare, index) => bare / mixed.run[index]!)),
		errors,
		cpuRatios: {...cpuRatios, mixedRunVsBareGet: summary(mixed.runCpu.map((run, index) => run / mixed.bareCpu[index]!))},
		cpuUsPerOp: {
			...Object.fromEntries(measured.filter(name => name !== 'mixed.get').map(name => [name, roundTo(median(cpu[name]!), 2)])),
			'mixed.bareGet': roundTo(median(mixed.bareCpu), 2),
			'mixed.runGet': roundTo(median(mixed.runCpu), 2),
		},
		opsPerSecond: {
			...Object.fromEntries(measured.filter(name => name !== 'mixed.get')
				.map(name => [name, Math.round(median(values[name]!))])),
			'mixed.bareGet': Math.round(median(mixed.bare)),
			'mixed.runGet': Math.round(median(mixed.run)),
		},
	};
}

export type IsolatedResult = Awaited<ReturnType<typeof isolatedBench>>;

/** The isolated section in Markdown: every goal's ratio, median of the rounds and range, then the raw rates. */
export function isolatedMarkdown(result: IsolatedResult): string[] {
	type Key = keyof IsolatedResult['cpuRatios'];
	const stats = ({median, min, max}: {median: number; min: number; max: number}) =>
		`${median.toFixed(3)} (${min.toFixed(3)}–${max.toFixed(3)})`;
	const row = (label: string, goal: string, key: Key) =>
		`| ${label} | ${goal} | ${stats(result[key])} | ${result[key].perRound.map(value => value.toFixed(3)).join(', ')} | ${stats(result.cpuRatios[key])} |`;
	return [
		`### Isolated: each configuration in its own process (one client family, one store), ${result.rounds} interleaved rounds (${result.opsRoundMs} ms at store level, concurrency ${result.concurrency}; ${result.httpRoundS} s over HTTP, ${result.connections} connections)`,
		'',
		'| ratio | goal | from rates: median (range) | per round | from CPU time per operation: median (range) |',
		'|---|---|---|---|---|',
		row('`guard.run(c => c.get(k))` time ÷ bare `client.get(k)`, ioredis', '≤ 1.1', 'runVsBareGet'),
		row('the same, node-redis', '≤ 1.1', 'runVsBareGetNodeRedis'),
		row('the same in one process that ran every family first (mixed)', '—', 'mixedRunVsBareGet'),
		row('happy path: RedisRateLimitStore ÷ rate-limit-redis', '≥ 1.0', 'storeVsRateLimitRedis'),
		row('happy path: the same store, no guard ÷ rate-limit-redis', '—', 'unguardedStoreVsRateLimitRedis'),
		row('happy path: guarded store ÷ the same store with no guard', '—', 'storeVsUnguardedStore'),
		row('happy path: FallbackRateLimitStore ÷ rate-limit-redis', '—', 'fallbackStoreVsRateLimitRedis'),
		row('abuse, store level: ours (fallback store) ÷ rate-limit-redis', '≥ 5', 'abuseStoreVsRateLimitRedis'),
		row('abuse, store level: ours ÷ rate-limiter-flexible', '≥ 1.5', 'abuseStoreVsRateLimiterFlexible'),
		row('abuse, store level: RedisRateLimitStore alone ÷ rate-limit-redis', '—', 'abuseRedisStoreVsRateLimitRedis'),
		row('abuse, HTTP: ours ÷ rate-limit-redis', '≥ 1.0', 'abuseHttpVsRateLimitRedis'),
		row('abuse, HTTP: ours ÷ MemoryStore', '≥ 0.95', 'abuseHttpVsMemory'),
		row('HTTP under the limit: ours ÷ rate-limit-redis', '≥ 1.0', 'httpVsRateLimitRedis'),
		row('HTTP under the limit: ours ÷ MemoryStore', '—', 'httpVsMemory'),
		'',
		'Per configuration, median of the rounds: rate (operations or requests per second) and the process\'s CPU time per operation (µs, user + system; over HTTP the server process only):',
		'',
		'| configuration | per second | CPU µs per operation |',
		'|---|---:|---:|',
		...Object.entries(result.opsPerSecond).map(([name, ops]) =>
			`| ${name} | ${ops} | ${(result.cpuUsPerOp as Record<string, number>)[name]} |`),
		'',
		`Failed calls (store level) and 5xx or socket errors (HTTP) in the measured rounds: ${JSON.stringify(result.errors)}.`,
		'',
	];
}
