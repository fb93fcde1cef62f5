/*
Several full `npm run bench` runs, one after the other, for results that can be published: each run's Markdown and JSON
(and its charts), how much CPU other processes took while it ran, and the median and spread of the ratios the goals
are about across the runs.

npx tsx bench/runs.ts [--runs 3] [--out .tmp/bench-runs] [--idle 0.5] [--wait-minutes 120] [--quick]

Before each run it waits (checking every minute, up to --wait-minutes in all) until the 1-minute load average is below
--idle: a 2-core machine shared with other work gives numbers that say more about the other work than about the code.
The CPU time the machine spent during a run (user + nice + system, /proc/stat) less that of the run's own processes
(the bench and everything it started and waited for: redis-servers, autocannon) is what others took; steal (another
virtual machine on the host) is counted apart. Writes into --out: run-N.md, run-N.json, run-N/ (charts), summary.md
and summary.json. Exits 1 if it could not start a run because the machine never got idle.
*/
import {spawn} from 'node:child_process';
import {createWriteStream, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import {cpus, loadavg} from 'node:os';
import {join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';

const {values: flags} = parseArgs({options: {
	runs: {type: 'string', default: '3'},
	out: {type: 'string', default: '.tmp/bench-runs'},
	idle: {type: 'string', default: '0.5'},
	'wait-minutes': {type: 'string', default: '120'},
	quick: {type: 'boolean', default: false},
}});
const runs = Number(flags.runs);
const idle = Number(flags.idle);
const waitMs = Number(flags['wait-minutes']) * 60_000;
const out = resolve(flags.out);
mkdirSync(out, {recursive: true});
const bench = fileURLToPath(new URL('bench.ts', import.meta.url));
const ticksPerSecond = 100;

const log = (text: string) => {
	process.stderr.write(`[runs ${new Date().toISOString()}] ${text}\n`);
};

const sleep = async (ms: number) => new Promise(resolve_ => {
	setTimeout(resolve_, ms);
});

/** Machine CPU in ticks: busy (user + nice + system) and steal. */
function machineTicks(): {busy: number; steal: number} {
	const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
	const [user = 0, nice = 0, system = 0, , , , , steal = 0] = fields;
	return {busy: user + nice + system, steal};
}

/** CPU ticks of this process's children that have ended and been waited for: a finished run and all it started. */
function reapedChildrenTicks(): number {
	const stat = readFileSync('/proc/self/stat', 'utf8');
	// After the command's closing parenthesis: state (3), ppid, … utime (14), stime, cutime (16), cstime (17).
	const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
	return Number(fields[13]) + Number(fields[14]);
}

type Disturbance = {
	loadBefore: number;
	seconds: number;
	othersCpuSeconds: number;
	othersShareOfOneCore: number;
	stealSeconds: number;
};

async function oneRun(index: number): Promise<Disturbance> {
	const chartsDir = join(out, `run-${index}`);
	mkdirSync(chartsDir, {recursive: true});
	const loadBefore = loadavg()[0]!;
	const started = Date.now();
	const machineBefore = machineTicks();
	const oursBefore = reapedChildrenTicks();
	const child = spawn(process.execPath, [
		'--import', 'tsx', bench, '--charts', chartsDir, '--json-file', join(out, `run-${index}.json`),
		...flags.quick ? ['--quick'] : [],
	], {stdio: ['ignore', 'pipe', 'inherit']});
	child.stdout.pipe(createWriteStream(join(out, `run-${index}.md`)));
	const code = await new Promise<number>(resolve_ => {
		child.once('exit', code_ => {
			resolve_(code_ ?? 1);
		});
	});
	// The run has been waited for: its CPU, and that of everything it waited for (redis-servers, autocannon), is in
	// this process's children's count now.
	const ours = reapedChildrenTicks() - oursBefore;
	const machineAfter = machineTicks();
	if (code !== 0) {
		throw new Error(`Run ${index} exited with ${code}`);
	}

	const seconds = (Date.now() - started) / 1000;
	const othersCpuSeconds = Math.max(0, machineAfter.busy - machineBefore.busy - ours) / ticksPerSecond;
	return {
		loadBefore,
		seconds: Math.round(seconds),
		othersCpuSeconds: Math.round(othersCpuSeconds),
		othersShareOfOneCore: Math.round((othersCpuSeconds / seconds) * 1000) / 1000,
		stealSeconds: Math.round((machineAfter.steal - machineBefore.steal) / ticksPerSecond),
	};
}

async function waitForIdle(deadline: number): Promise<boolean> {
	for (;;) {
		const [load] = loadavg();
		if (load! < idle) {
			return true;
		}

		if (Date.now() >= deadline) {
			return false;
		}

		log(`1-minute load average ${load!.toFixed(2)} (want < ${idle}); waiting`);
		// eslint-disable-next-line no-await-in-loop
		await sleep(60_000);
	}
}

// --- The ratios the goals are about, per run ------------------------------------------------------------------------

type Metric = {name: string; goal: string; read(result: any): number | undefined};

const p99 = (scenario: string, middleware: string, side: 'oursP99Ms' | 'peerP99Ms') => (result: any) =>
	(result.outageLikeForLike?.[scenario] as Array<{middleware: string}> | undefined)
		?.find(row => row.middleware === middleware)?.[side as never] as number | undefined;

const metrics: Metric[] = [
	{name: 'store ÷ rate-limit-redis (happy path)', goal: '≥ 1.0', read: r => r.storeVsRateLimitRedis},
	{name: 'fallback store ÷ rate-limit-redis (happy path)', goal: '—', read: r => r.fallbackStoreVsRateLimitRedis},
	{name: 'store on the guard ÷ the same store with no guard', goal: '—', read: r => r.e2e?.guardedVsUnguardedStore},
	{name: 'guard.run(get) time ÷ bare get', goal: '≤ 1.1', read: r => r.runVsBareGet},
	{name: 'HTTP: fallback store ÷ rate-limit-redis', goal: '≥ 1.0', read: r => r.http?.guardedVsRateLimitRedis},
	{name: 'HTTP: fallback store ÷ MemoryStore', goal: '≥ 0.8', read: r => r.http?.guardedVsMemory},
	{name: 'abuse: Redis commands per request', goal: '≤ 0.15', read: r => r.abuse?.redisCommandsPerRequest},
	{name: 'abuse, store level: ours ÷ rate-limit-redis', goal: '≥ 5', read: r => r.abuse?.storeVsRateLimitRedis},
	{name: 'abuse, store level: ours ÷ rate-limiter-flexible', goal: '≥ 1.0', read: r => r.abuse?.storeVsRateLimiterFlexible},
	{name: 'abuse, HTTP: ours ÷ rate-limit-redis', goal: '≥ 1.0', read: r => r.abuse?.httpVsRateLimitRedis},
	{name: 'abuse, HTTP: ours ÷ MemoryStore', goal: '≥ 0.95', read: r => r.abuse?.httpVsMemory},
	{name: 'abuse: hits admitted over the limit (ours)', goal: '0', read: r => r.abuse?.overAdmitted},
	...['kill', 'startup'].flatMap(scenario => ['express-rate-limit', 'rate-limiter-flexible\'s bare one'].flatMap(middleware => [
		{name: `${scenario}, ${middleware}: ours p99 ms`, goal: '≤ theirs', read: p99(scenario, middleware, 'oursP99Ms')},
		{name: `${scenario}, ${middleware}: rate-limiter-flexible p99 ms`, goal: '', read: p99(scenario, middleware, 'peerP99Ms')},
	])),
];

const median = (values: number[]) => {
	const sorted = [...values].sort((a, b) => a - b);
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

// --- Run ------------------------------------------------------------------------------------------------------------

const deadline = Date.now() + waitMs;
const disturbances: Disturbance[] = [];
for (let index = 1; index <= runs; index++) {
	// eslint-disable-next-line no-await-in-loop
	if (!await waitForIdle(deadline)) {
		log(`the machine did not get idle (1-minute load average < ${idle}) within --wait-minutes; ${index - 1} run(s) done`);
		break;
	}

	log(`run ${index}/${runs} (1-minute load average ${loadavg()[0]!.toFixed(2)}, ${cpus().length} cores)`);
	// eslint-disable-next-line no-await-in-loop
	const disturbance = await oneRun(index);
	disturbances.push(disturbance);
	log(`run ${index}: ${disturbance.seconds} s; other processes took ${disturbance.othersCpuSeconds} CPU-s (${disturbance.othersShareOfOneCore} of one core), steal ${disturbance.stealSeconds} s`);
}

const results = disturbances.map((_, index) => JSON.parse(readFileSync(join(out, `run-${index + 1}.json`), 'utf8')) as unknown);
const rows = metrics.map(metric => {
	const values = results.map(result => metric.read(result)).filter((value): value is number => typeof value === 'number');
	return {
		...metric,
		values,
		median: values.length > 0 ? median(values) : undefined,
		min: values.length > 0 ? Math.min(...values) : undefined,
		max: values.length > 0 ? Math.max(...values) : undefined,
	};
});
writeFileSync(join(out, 'summary.json'), `${JSON.stringify({disturbances, metrics: rows.map(({read: _, ...row}) => row)}, null, '\t')}\n`);
const header = disturbances.map((_, index) => `run ${index + 1}`);
writeFileSync(join(out, 'summary.md'), [
	`${disturbances.length} full run(s) of \`npm run bench\`${flags.quick ? ' --quick' : ''}, one after the other.`,
	'',
	`| | ${header.join(' | ')} |`,
	`|---|${header.map(() => '---:').join('|')}|`,
	`| 1-minute load average before | ${disturbances.map(each => each.loadBefore.toFixed(2)).join(' | ')} |`,
	`| duration (s) | ${disturbances.map(each => each.seconds).join(' | ')} |`,
	`| CPU taken by other processes during the run (share of one core) | ${disturbances.map(each => each.othersShareOfOneCore).join(' | ')} |`,
	`| steal (s) | ${disturbances.map(each => each.stealSeconds).join(' | ')} |`,
	'',
	`| metric | goal | ${header.join(' | ')} | median | min–max |`,
	`|---|---|${header.map(() => '---:').join('|')}|---:|---|`,
	...rows.map(row => `| ${row.name} | ${row.goal} | ${row.values.join(' | ')} | ${row.median ?? '—'} | ${row.min ?? '—'}–${row.max ?? '—'} |`),
	'',
].join('\n'));
log(`wrote ${join(out, 'summary.md')}`);
process.exitCode = disturbances.length === runs ? 0 : 1;
