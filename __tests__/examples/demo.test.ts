import {execFile, spawn} from 'node:child_process';
import {once} from 'node:events';
import {resolve} from 'node:path';
import {createInterface} from 'node:readline';
import {promisify} from 'node:util';

const run = promisify(execFile);
const root = resolve(__dirname, '../..');

jest.setTimeout(120_000);

test('npm run demo -- --json (small N): exactly one JSON object showing the race, the stuck fix and the guard', async () => {
	const {stdout} = await run(process.execPath, [resolve(root, 'node_modules/tsx/dist/cli.mjs'), 'examples/demo/demo.ts', '--requests', '40', '--json'], {
		cwd: root,
		env: {...process.env, REDIS_URL: '', DATABASE_URL: ''},
	});
	const lines = stdout.trim().split('\n');
	expect(lines).toHaveLength(1);
	const result = JSON.parse(lines[0]!) as Record<string, any>;

	expect(Object.keys(result).sort()).toEqual(['coldStart', 'downThenUp']);
	for (const name of ['naive', 'connectingPromise', 'guarded']) {
		const stats = result.coldStart[name];
		expect(Object.keys(stats).sort()).toEqual(['connectCalls', 'errors', 'fallbacks', 'p50Ms', 'p99Ms']);
		for (const value of Object.values(stats)) {
			expect(typeof value).toBe('number');
		}

		expect(stats.p99Ms).toBeGreaterThanOrEqual(stats.p50Ms);
	}

	// The race: every concurrent caller but the first calls connect() and fails over to Prisma.
	expect(result.coldStart.naive).toMatchObject({connectCalls: 40, errors: 39, fallbacks: 39});
	expect(result.coldStart.connectingPromise).toMatchObject({connectCalls: 40, errors: 39, fallbacks: 39});
	// The guard: one connect(), nobody falls back.
	expect(result.coldStart.guarded).toMatchObject({connectCalls: 1, errors: 0, fallbacks: 0});
	expect(result.downThenUp).toEqual({connectingPromise: {recovered: false}, guarded: {recovered: true}});
});

test('npm run demo -- --metrics-port 0: prints where /metrics is served and serves it while it runs', async () => {
	const child = spawn(process.execPath, [resolve(root, 'node_modules/tsx/dist/cli.mjs'), 'examples/demo/demo.ts', '--requests', '40', '--json', '--metrics-port', '0'], {
		cwd: root,
		env: {...process.env, REDIS_URL: '', DATABASE_URL: ''},
	});
	const exited = once(child, 'exit');
	let stdout = '';
	child.stdout.on('data', (chunk: Buffer) => {
		stdout += chunk.toString();
	});
	// The address comes first, before any work: the demo then runs for seconds, serving as it goes.
	const [firstLine] = await once(createInterface({input: child.stderr}), 'line') as [string];
	const url = /^metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)$/.exec(firstLine)?.[1];
	expect(url).toBeDefined();
	const body = await (await fetch(url!)).text();
	expect(body).toContain('# TYPE connection_guard_attempts_total counter');
	expect(body).toContain('# TYPE rate_limit_circuit_open gauge');
	await exited;
	expect(child.exitCode).toBe(0);
	// --json still prints exactly one object on stdout.
	expect(stdout.trim().split('\n')).toHaveLength(1);
});
