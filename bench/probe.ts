/*
npx tsx bench/probe.ts [--family ioredis|node-redis|mock] [--pollute] [--concurrency 64] [--rounds 9] [--round-ms 1000]
                       [--order bare-first|run-first|rotate] [--churn MB]

The probe behind "Where the time goes" in RESULTS.md: `guard.run(c => c.get(k))` against a bare `await c.get(k)` on a
private redis-server, alone in its process, interleaved rounds, one line of JSON with each round's ratio. Run it under
`node --cpu-prof`, `--trace-deopt` or `--trace-gc` (through `node --import tsx`) to see what the guarded call costs.

- `--pollute`: first drive `guard.run()` through every other client family (node-redis, ioredis-mock, and ioredis with
  a different `fn` each), so that its call sites have seen all of them, as in a process that mixes families.
- `--churn MB`: keep that much garbage alive in a ring of arrays, as earlier sections of a long bench leave a heap.
*/
import {Session} from 'node:inspector/promises';
import {readFileSync} from 'node:fs';
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {Redis} from 'ioredis';
import RedisMock from 'ioredis-mock';
import {createClient} from 'redis';
import {guardedRedis} from 'connection-guard';
import {RedisServer} from '../__tests__/servers/redis-server.js';

const {values: flags} = parseArgs({options: {
	family: {type: 'string', default: 'ioredis'},
	pollute: {type: 'boolean', default: false},
	concurrency: {type: 'string', default: '64'},
	rounds: {type: 'string', default: '9'},
	'round-ms': {type: 'string', default: '1000'},
	order: {type: 'string', default: 'rotate'},
	churn: {type: 'string', default: '0'},
	// One operation only (`bare` or `run`): for a CPU profile of that one.
	only: {type: 'string'},
	// Profile each round in-process (node:inspector) and print, per variant, µs of CPU per operation by frame (self
	// time): the two variants' profiles side by side, from interleaved rounds.
	profile: {type: 'boolean', default: false},
	top: {type: 'string', default: '15'},
}});
const concurrency = Number(flags.concurrency);
const rounds = Number(flags.rounds);
const roundMs = Number(flags['round-ms']);

const server = await RedisServer.start();
type Getter = {get(key: string): Promise<unknown>};
const closers: Array<() => unknown> = [];

async function clientOf(family: string): Promise<Getter & object> {
	if (family === 'node-redis') {
		const client = createClient({socket: {host: '127.0.0.1', port: server.port}});
		client.on('error', () => undefined);
		await client.connect();
		closers.push(() => client.destroy());
		return client as unknown as Getter & object;
	}

	if (family === 'mock') {
		const client = new RedisMock();
		closers.push(() => client.disconnect());
		return client as unknown as Getter & object;
	}

	const client = new Redis({host: '127.0.0.1', port: server.port, autoResendUnfulfilledCommands: false});
	client.on('error', () => undefined);
	await new Promise(resolve => client.once('ready', resolve));
	closers.push(() => client.disconnect());
	return client;
}

// Garbage kept alive: a ring of arrays of small objects, replaced slowly, so old space stays full of it.
const ring: unknown[][] = [];
const churnMb = Number(flags.churn);
if (churnMb > 0) {
	for (let index = 0; index < churnMb * 10; index++) {
		ring.push(Array.from({length: 2000}, (_, n) => ({n, text: `value ${n}`})));
	}
}

if (flags.pollute) {
	// Every family through guard.run(), with several distinct fns: the guard's call sites see them all.
	for (const family of ['node-redis', 'mock', 'ioredis']) {
		// eslint-disable-next-line no-await-in-loop
		const client = await clientOf(family);
		const guard = guardedRedis(client as never);
		for (let index = 0; index < 20_000; index++) {
			// eslint-disable-next-line no-await-in-loop
			await Promise.all([
				guard.run((c: Getter) => c.get('a')),
				guard.run(async (c: Getter) => c.get('b')),
				guard.run((c: Getter) => c.get('c'), {timeoutMs: 2000}),
			]);
		}
	}
}

const client = await clientOf(flags.family);
const guard = guardedRedis(client as never, {timeoutMs: 1000});
const operations: Record<string, (key: string) => Promise<unknown>> = {
	bare: async key => client.get(`probe:${key}`),
	run: async key => guard.run((c: Getter) => c.get(`probe:${key}`)),
};

async function runRound(operation: (key: string) => Promise<unknown>): Promise<number> {
	let ops = 0;
	const endAt = performance.now() + roundMs;
	const worker = async (id: number) => {
		let index = id;
		while (performance.now() < endAt) {
			// eslint-disable-next-line no-await-in-loop
			await operation(`k${index % 1000}`);
			ops++;
			index += concurrency;
			if (churnMb > 0 && ops % 64 === 0) {
				ring[ops % ring.length] = Array.from({length: 2000}, (_, n) => ({n, text: `value ${n}`}));
			}
		}
	};

	const started = performance.now();
	await Promise.all(Array.from({length: concurrency}, async (_, id) => worker(id)));
	return ops / ((performance.now() - started) / 1000);
}

for (const operation of Object.values(operations)) {
	// eslint-disable-next-line no-await-in-loop
	await Promise.all(Array.from({length: 2000}, async (_, index) => operation(`warm${index}`)));
}

type Profile = {
	nodes: Array<{id: number; callFrame: {functionName: string; url: string; lineNumber: number}}>;
	samples: number[];
	timeDeltas: number[];
};
const session = flags.profile ? new Session() : undefined;
if (session) {
	session.connect();
	await session.post('Profiler.enable');
	await session.post('Profiler.setSamplingInterval', {interval: 100});
}

// Per variant: self µs by frame, and the operations the profiled rounds made.
const frames: Record<string, Map<string, number>> = {bare: new Map(), run: new Map()};
const profiledOps: Record<string, number> = {bare: 0, run: 0};
function addProfile(name: string, {nodes, samples, timeDeltas}: Profile, ops: number) {
	const byId = new Map(nodes.map(node => [node.id, node.callFrame]));
	const into = frames[name]!;
	for (const [index, id] of samples.entries()) {
		const frame = byId.get(id)!;
		const url = frame.url.replace(/^.*node_modules\//, '').replace(/^.*\/(dist|bench|src)\//, '$1/');
		const key = `${frame.functionName || '(anonymous)'} ${url}${url ? `:${frame.lineNumber + 1}` : ''}`;
		// The delta after a sample is the time it stands for.
		into.set(key, (into.get(key) ?? 0) + (timeDeltas[index + 1] ?? 0));
	}

	profiledOps[name]! += ops;
}

// CPU per operation, user and system, of this process and of the redis-server (clock ticks from /proc, Linux).
const cpu: Record<string, {user: number; system: number; redis: number; ops: number}> = {
	bare: {user: 0, system: 0, redis: 0, ops: 0},
	run: {user: 0, system: 0, redis: 0, ops: 0},
};
const redisTicks = () => {
	try {
		const fields = readFileSync(`/proc/${server.process!.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
		return (Number(fields[11]) + Number(fields[12])) * 10_000; // µs, at 100 ticks per second
	} catch {
		return 0;
	}
};

const ratios: number[] = [];
const samples: Record<string, number[]> = {bare: [], run: []};
for (let index = 0; index < rounds; index++) {
	const order = flags.only ? [flags.only] : flags.order === 'bare-first' ? ['bare', 'run'] : flags.order === 'run-first' ? ['run', 'bare']
		: (index % 2 ? ['run', 'bare'] : ['bare', 'run']);
	const ops: Record<string, number> = {};
	for (const name of order) {
		// eslint-disable-next-line no-await-in-loop
		await session?.post('Profiler.start');
		const cpuBefore = process.cpuUsage();
		const redisBefore = redisTicks();
		// eslint-disable-next-line no-await-in-loop
		ops[name] = await runRound(operations[name]!);
		const used = process.cpuUsage(cpuBefore);
		cpu[name]!.user += used.user;
		cpu[name]!.system += used.system;
		cpu[name]!.redis += redisTicks() - redisBefore;
		cpu[name]!.ops += ops[name] * roundMs / 1000;
		samples[name]!.push(ops[name]);
		if (session) {
			// eslint-disable-next-line no-await-in-loop
			const {profile} = await session.post('Profiler.stop') as unknown as {profile: Profile};
			addProfile(name, profile, ops[name] * roundMs / 1000);
		}
	}

	if (!flags.only) ratios.push(Math.round(ops.bare! / ops.run! * 1000) / 1000);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(JSON.stringify({
	...flags,
	bareOps: samples.bare!.length > 0 ? Math.round(median(samples.bare!)) : undefined,
	runOps: samples.run!.length > 0 ? Math.round(median(samples.run!)) : undefined,
	medianRatio: ratios.length > 0 ? median(ratios) : undefined,
	// µs of CPU per operation: this process's user and system time, and the redis-server's.
	cpuUsPerOp: Object.fromEntries(Object.entries(cpu).filter(([, each]) => each.ops > 0).map(([name, each]) => [name, {
		user: Math.round(each.user / each.ops * 100) / 100,
		system: Math.round(each.system / each.ops * 100) / 100,
		redis: Math.round(each.redis / each.ops * 100) / 100,
	}])),
	ratios,
}));
if (session) {
	// µs per operation by frame, the frames that cost most in either variant first.
	const perOp = (name: string, key: string) => (frames[name]!.get(key) ?? 0) / profiledOps[name]!;
	const keys = [...new Set([...frames.bare!.keys(), ...frames.run!.keys()])]
		.filter(key => !key.startsWith('(idle)'))
		.sort((a, b) => Math.max(perOp('bare', b), perOp('run', b)) - Math.max(perOp('bare', a), perOp('run', a)));
	const total = (name: string) => [...frames[name]!].filter(([key]) => !key.startsWith('(idle)'))
		.reduce((sum, [, us]) => sum + us, 0) / profiledOps[name]!;
	console.log(`| frame (self time) | bare µs/op | run µs/op |\n|---|---:|---:|`);
	for (const key of keys.slice(0, Number(flags.top))) {
		console.log(`| ${key} | ${perOp('bare', key).toFixed(3)} | ${perOp('run', key).toFixed(3)} |`);
	}

	console.log(`| all but idle | ${total('bare').toFixed(3)} | ${total('run').toFixed(3)} |`);
	const idle = (name: string) => (frames[name]!.get('(idle) ') ?? 0) / profiledOps[name]!;
	console.log(`| (idle) | ${idle('bare').toFixed(3)} | ${idle('run').toFixed(3)} |`);
}

for (const close of closers) {
	close();
}

await server.stop();
