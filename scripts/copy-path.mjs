#!/usr/bin/env node
// `npm run test:copy-path`: docs/rate-limiting-in-your-app.md, followed word for word outside the repository. Packs
// the tarball, then for each kind of app makes a fresh folder under the system's temporary folder and runs the page's
// blocks that apply to it, in order: the `sh` blocks as commands (the one change: the tarball's path for
// `connection-guard` in `npm install`), the file blocks as files. Then it starts the app on a redis-server of its own
// and checks it over HTTP: 429 after the limit; Redis killed (SIGKILL) under a request loop and started again, with no
// failed request and no key admitted more than `limit` times; one log line per state change; a clean stop on SIGTERM.
//
// The page marks its blocks with HTML comments, so the page and this job cannot drift:
//   <!-- copy-path: run [when TAGS] -->          the ```sh block after it is run with bash -e in the app's folder
//   <!-- copy-path: start [when TAGS] -->        the ```sh block after it starts the app
//   <!-- copy-path: file PATH [when TAGS] -->    the block after it is written to PATH
//   <!-- copy-path: append PATH [when TAGS] -->  the block after it is appended to PATH
// TAGS are words of the app kinds below (ts js esm cjs sqlite postgres ioredis noderedis); a block applies to an app
// that has all of them, and the paragraph above a tagged block must name them ("TypeScript", "CommonJS", …), as a
// reader sees them.
//
// Options: --only NAME[,NAME] (some apps), --tarball FILE (skip packing), --keep (keep the app folders), --summary FILE
// (writes "copy-path: N passed, N failed"), --check-docs (parse and validate the page, print the plan as JSON, stop).
import {execFileSync, spawn} from 'node:child_process';
import {appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {request} from 'node:http';
import {connect, createServer} from 'node:net';
import {tmpdir} from 'node:os';
import {delimiter, dirname, join, resolve} from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import {parseArgs} from 'node:util';

const root = resolve(import.meta.dirname, '..');
const docsPage = join(root, 'docs', 'rate-limiting-in-your-app.md');

/** Every kind of app the page covers, so that each of its blocks runs in at least one (checked below). */
export const apps = [
	{name: 'ts-cjs-sqlite-ioredis', tags: ['ts', 'cjs', 'sqlite', 'ioredis']},
	{name: 'ts-esm-postgres-node-redis', tags: ['ts', 'esm', 'postgres', 'noderedis']},
	{name: 'js-esm-sqlite-ioredis', tags: ['js', 'esm', 'sqlite', 'ioredis']},
	{name: 'js-cjs-postgres-node-redis', tags: ['js', 'cjs', 'postgres', 'noderedis']},
	{name: 'js-cjs-sqlite-ioredis', tags: ['js', 'cjs', 'sqlite', 'ioredis']},
	{name: 'js-esm-postgres-node-redis', tags: ['js', 'esm', 'postgres', 'noderedis']},
];

/** How the page names each tag where a reader sees it. */
const tagNames = {
	ts: 'TypeScript', js: 'JavaScript', esm: 'ESM', cjs: 'CommonJS', sqlite: 'SQLite', postgres: 'PostgreSQL',
	ioredis: 'ioredis', noderedis: 'node-redis',
};

/** The page's marked blocks, in order; throws naming the line of anything malformed. */
export function parsePage(text) {
	const lines = text.split('\n');
	const blocks = [];
	for (let index = 0; index < lines.length; index++) {
		const line = lines[index];
		if (!line.startsWith('<!-- copy-path:')) {
			continue;
		}

		const where = `docs/rate-limiting-in-your-app.md:${index + 1}`;
		const marker = /^<!-- copy-path: (run|start|file|append)(?: ([^\s]+))??(?: when ([a-z ]+))? -->$/.exec(line);
		if (!marker) {
			throw new Error(`${where}: cannot read the marker \`${line}\``);
		}

		const [, action, path, when] = marker;
		if ((action === 'file' || action === 'append') !== (path !== undefined)) {
			throw new Error(`${where}: \`${action}\` ${path === undefined ? 'needs' : 'takes no'} a path`);
		}

		const tags = when ? when.split(' ') : [];
		for (const tag of tags) {
			if (!(tag in tagNames)) {
				throw new Error(`${where}: unknown tag \`${tag}\` (known: ${Object.keys(tagNames).join(', ')})`);
			}
		}

		// The paragraph above says, in words, which apps the block is for.
		let start = index - 1;
		while (start >= 0 && lines[start].trim() === '') {
			start--;
		}

		const paragraph = [];
		while (start >= 0 && lines[start].trim() !== '' && !lines[start].startsWith('```') && !lines[start].startsWith('<!--')) {
			paragraph.unshift(lines[start]);
			start--;
		}

		const label = paragraph.join(' ');
		const unnamed = tags.filter(tag => !label.includes(tagNames[tag]));
		if (unnamed.length > 0) {
			throw new Error(`${where}: the paragraph above a block for ${tags.join(' ')} does not name ${unnamed.map(tag => tagNames[tag]).join(', ')}`);
		}

		const fence = /^```(\w*)$/.exec(lines[index + 1] ?? '');
		if (!fence) {
			throw new Error(`${where}: the marker must be followed by a fenced block`);
		}

		if ((action === 'run' || action === 'start') && fence[1] !== 'sh') {
			throw new Error(`${where}: \`${action}\` needs a \`\`\`sh block`);
		}

		const end = lines.indexOf('```', index + 2);
		if (end === -1) {
			throw new Error(`${where}: the block is not closed`);
		}

		blocks.push({line: index + 1, action, path, tags, language: fence[1], content: lines.slice(index + 2, end).join('\n')});
		index = end;
	}

	return blocks;
}

/** Which blocks each app runs; throws when a block applies to none, or an app has no start. */
export function plan(blocks) {
	const applies = (block, app) => block.tags.every(tag => app.tags.includes(tag));
	const byApp = Object.fromEntries(apps.map(app => [app.name, blocks.filter(block => applies(block, app))]));
	for (const block of blocks) {
		if (!apps.some(app => byApp[app.name].includes(block))) {
			throw new Error(`docs/rate-limiting-in-your-app.md:${block.line}: no app runs this block (${block.tags.join(' ')})`);
		}
	}

	for (const app of apps) {
		const starts = byApp[app.name].filter(block => block.action === 'start');
		if (starts.length !== 1) {
			throw new Error(`${app.name}: ${starts.length} start blocks apply, expected 1`);
		}
	}

	return byApp;
}

/** `npm install … connection-guard …` installs the tarball instead; nothing else is changed. */
export function withTarball(script, tarball) {
	return script.split('\n').map(line => /^npm (install|i)\b/.test(line)
		? line.replaceAll(/(?<=\s)connection-guard(?=\s|$)/g, tarball)
		: line).join('\n');
}

// --- running the apps --------------------------------------------------------------------------------------------

/** The environment of a user's shell: none of this repository's npm run variables or node_modules/.bin on PATH. */
function userEnvironment() {
	const environment = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|INIT_CWD$|NODE_OPTIONS$)/i.test(key)));
	environment.PATH = (process.env.PATH ?? '').split(delimiter).filter(entry => !entry.includes(`node_modules${'/'}.bin`)).join(delimiter);
	return {
		...environment,
		// Offline here: `prisma generate` needs no schema engine, but its CLI looks for one it would download.
		PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
		PRISMA_HIDE_UPDATE_MESSAGE: '1',
		npm_config_update_notifier: 'false',
		npm_config_fund: 'false',
		npm_config_audit: 'false',
	};
}

async function freePort() {
	return new Promise((resolvePort, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const {port} = server.address();
			server.close(() => resolvePort(port));
		});
	});
}

async function answers(port) {
	return new Promise(resolveAnswer => {
		const socket = connect(port, '127.0.0.1');
		socket.setTimeout(500, () => {
			socket.destroy();
			resolveAnswer(false);
		});
		socket.once('connect', () => {
			socket.write('PING\r\n');
		});
		socket.once('data', data => {
			socket.destroy();
			resolveAnswer(data.toString().startsWith('+PONG'));
		});
		socket.once('error', () => resolveAnswer(false));
	});
}

/** A redis-server of the job's own, on `port`, keeping nothing on disk. */
async function startRedis(port, log) {
	const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {stdio: ['ignore', 'pipe', 'pipe']});
	child.stdout.on('data', data => appendFileSync(log, data));
	child.stderr.on('data', data => appendFileSync(log, data));
	const deadline = Date.now() + 10_000;
	// Polling until it answers: one check at a time.
	// eslint-disable-next-line no-await-in-loop
	while (!(await answers(port))) {
		if (Date.now() > deadline || child.exitCode !== null) {
			throw new Error(`redis-server on port ${port} did not start (${log})`);
		}

		// eslint-disable-next-line no-await-in-loop
		await delay(50);
	}

	return child;
}

async function stopChild(child, signal = 'SIGKILL') {
	if (child.exitCode !== null || child.signalCode !== null) {
		return;
	}

	const exited = new Promise(resolveExit => child.once('exit', resolveExit));
	child.kill(signal);
	await exited;
}

/** One GET / from `localAddress` (its own rate-limit key): the status and headers, or the socket error. */
async function get(port, localAddress) {
	return new Promise(resolveRequest => {
		const started = Date.now();
		const outgoing = request({host: '127.0.0.1', port, path: '/', localAddress, agent: false, timeout: 10_000}, response => {
			response.resume();
			response.once('end', () => resolveRequest({status: response.statusCode, headers: response.headers, ms: Date.now() - started}));
		});
		outgoing.once('timeout', () => outgoing.destroy(new Error('no answer within 10 s')));
		outgoing.once('error', error => resolveRequest({status: 0, error: error.message, ms: Date.now() - started}));
		outgoing.end();
	});
}

/** Runs a command block with bash -e in `cwd`; resolves with its output, rejects with it on failure. */
async function runScript(script, cwd, environment, log, timeoutMs) {
	appendFileSync(log, `\n$ ${script.split('\n').join('\n$ ')}\n`);
	return new Promise((resolveRun, reject) => {
		const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], {cwd, env: environment, stdio: ['ignore', 'pipe', 'pipe'], detached: true});
		let output = '';
		const collect = data => {
			output += data;
			appendFileSync(log, data);
		};

		child.stdout.on('data', collect);
		child.stderr.on('data', collect);
		const timer = setTimeout(() => {
			process.kill(-child.pid, 'SIGKILL');
		}, timeoutMs);
		child.once('exit', (code, signal) => {
			clearTimeout(timer);
			if (code === 0) {
				resolveRun(output);
			} else {
				reject(new Error(`exited with ${code ?? signal}${signal ? ` (timed out after ${timeoutMs / 1000} s)` : ''}:\n${output.split('\n').slice(-25).join('\n')}`));
			}
		});
	});
}

// The machine's PostgreSQL service (trust auth), as the jest tests use it; each app gets a database of its own.
const postgresAdmin = {host: '127.0.0.1', port: 5432, database: 'test', user: process.env.PGUSER ?? 'postgres'};

async function postgres(sql) {
	const {default: pg} = await import('pg');
	const client = new pg.Client(postgresAdmin);
	await client.connect();
	try {
		await client.query(sql);
	} finally {
		await client.end();
	}
}

/** Follows the page for one app and checks it; resolves with the checks, each {name, ok, detail}. */
async function runApp(app, blocks, {tarball, work, keep}) {
	const checks = [];
	const check = (name, ok, detail = '') => {
		checks.push({name, ok, detail});
		console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
		return ok;
	};

	const dir = mkdtempSync(join(tmpdir(), `connection-guard-copy-path-${app.name}-`));
	const log = join(work, `${app.name}.log`);
	writeFileSync(log, `${app.name} in ${dir}\n`);
	console.log(`${app.name} (${app.tags.map(tag => tagNames[tag]).join(', ')}) in ${dir}; log: ${log}`);
	const environment = userEnvironment();
	const started = Date.now();
	const children = [];
	let database;
	try {
		// The page, block by block.
		let npmOutput = '';
		let start;
		for (const block of blocks) {
			const label = `${block.action}${block.path ? ` ${block.path}` : ''} (line ${block.line})`;
			if (block.action === 'file' || block.action === 'append') {
				const target = join(dir, block.path);
				mkdirSync(dirname(target), {recursive: true});
				(block.action === 'file' ? writeFileSync : appendFileSync)(target, `${block.content}\n`);
				appendFileSync(log, `\n# ${label}\n`);
				continue;
			}

			if (block.action === 'start') {
				start = block;
				continue;
			}

			const stepStarted = Date.now();
			try {
				// The page's steps, in its order: each builds on the one before.
				// eslint-disable-next-line no-await-in-loop
				const output = await runScript(withTarball(block.content, tarball), dir, environment, log, 600_000);
				if (/^npm (install|i)\b/m.test(block.content)) {
					npmOutput += output;
				}
			} catch (error) {
				check(label, false, error.message);
				return checks;
			}

			const seconds = (Date.now() - stepStarted) / 1000;
			if (seconds > 5) {
				console.log(`       ${block.content.split('\n').join(' && ')} (${seconds.toFixed(0)} s)`);
			}
		}

		check('the page\'s commands ran', true, `${((Date.now() - started) / 1000).toFixed(0)} s`);
		const warnings = npmOutput.split('\n').filter(line => /^npm warn/i.test(line));
		const ours = warnings.filter(line => line.includes('connection-guard'));
		check('npm prints no warning about connection-guard', ours.length === 0, ours.join(' | '));
		if (warnings.length > 0) {
			appendFileSync(log, `\n# npm warnings (not ours):\n${warnings.join('\n')}\n`);
		}

		// A Redis and, for PostgreSQL, a database of this run's own.
		const redisPort = await freePort();
		const redisLog = join(work, `${app.name}.redis.log`);
		let redis = await startRedis(redisPort, redisLog);
		children.push(() => redis);
		const appEnvironment = {...environment, PORT: String(await freePort()), REDIS_URL: `redis://127.0.0.1:${redisPort}`};
		if (app.tags.includes('postgres')) {
			database = `connection_guard_copy_path_${app.name.replaceAll('-', '_')}_${process.pid}`;
			await postgres(`DROP DATABASE IF EXISTS ${database}`);
			await postgres(`CREATE DATABASE ${database}`);
			appEnvironment.DATABASE_URL = `postgresql://${postgresAdmin.user}@${postgresAdmin.host}:${postgresAdmin.port}/${database}`;
		}

		const port = Number(appEnvironment.PORT);
		appendFileSync(log, `\n$ ${start.content}   (PORT=${port} REDIS_URL=${appEnvironment.REDIS_URL}${appEnvironment.DATABASE_URL ? ` DATABASE_URL=${appEnvironment.DATABASE_URL}` : ''})\n`);
		let appOutput = '';
		const server = spawn('bash', ['-c', `exec ${start.content}`], {cwd: dir, env: appEnvironment, stdio: ['ignore', 'pipe', 'pipe']});
		children.push(() => server);
		for (const stream of [server.stdout, server.stderr]) {
			stream.on('data', data => {
				appOutput += data;
				appendFileSync(log, data);
			});
		}

		// Up when it answers; the probe uses a key of its own (127.0.0.2).
		const upBy = Date.now() + 30_000;
		let probe;
		do {
			// Polling until the app answers: one probe at a time.
			// eslint-disable-next-line no-await-in-loop
			await delay(100);
			// eslint-disable-next-line no-await-in-loop
			probe = await get(port, '127.0.0.2');
		} while (probe.status === 0 && Date.now() < upBy && server.exitCode === null);
		if (!check('the app starts and answers', probe.status === 200, probe.status === 200 ? '' : `${probe.error ?? probe.status}; output: ${appOutput.slice(-800)}`)) {
			return checks;
		}

		// 429 after the limit, which the app announces in RateLimit-Policy ("100-in-1min"; q=100; w=60).
		const policy = /q=(\d+); w=(\d+)/.exec(probe.headers['ratelimit-policy'] ?? '');
		if (!check('RateLimit-Policy names the limit', Boolean(policy), String(probe.headers['ratelimit-policy']))) {
			return checks;
		}

		const limit = Number(policy[1]);
		const admitted = new Map();
		const first = [];
		for (let index = 0; index < limit + 5; index++) {
			// One after the other: the answers' order is what is checked.
			// eslint-disable-next-line no-await-in-loop
			first.push(await get(port, '127.0.0.3'));
		}

		admitted.set('127.0.0.3', first.filter(result => result.status === 200).length);
		const expected = first.every((result, index) => result.status === (index < limit ? 200 : 429));
		const retryAfter = first.filter(result => result.status === 429).every(result => Number(result.headers['retry-after']) > 0);
		check('429 after the limit', expected && retryAfter, `${limit} allowed per ${policy[2]} s; answers: ${summarize(first)}`);

		// Redis killed under load and started again (empty). 127.0.0.3 has used up its limit; five fresh keys count on.
		const keys = ['127.0.0.3', '127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14'];
		const results = [];
		let running = true;
		const loops = keys.map(async (key, offset) => {
			await delay(offset * 5);
			while (running) {
				// Each key's requests one after the other, about 33 a second: a client's steady traffic.
				const paced = delay(30);
				// eslint-disable-next-line no-await-in-loop
				const result = await get(port, key);
				results.push({key, ...result, at: Date.now()});
				// eslint-disable-next-line no-await-in-loop
				await paced;
			}
		});
		const phase = {};
		await delay(1000);
		phase.killed = Date.now();
		await stopChild(redis, 'SIGKILL');
		await delay(2000);
		phase.restarted = Date.now();
		redis = await startRedis(redisPort, redisLog);
		const recoveredBy = Date.now() + 15_000;
		while (!appOutput.includes('store recovered') && Date.now() < recoveredBy) {
			// Polling the app's log.
			// eslint-disable-next-line no-await-in-loop
			await delay(100);
		}

		await delay(1000);
		running = false;
		await Promise.all(loops);
		phase.stopped = Date.now();

		const failed = results.filter(result => result.status === 0 || result.status >= 500);
		const during = results.filter(result => result.at > phase.killed && result.at <= phase.restarted);
		check('no request failed across the kill', failed.length === 0 && during.length > 0, `${results.length} requests (${during.length} while Redis was down): ${summarize(results)}${failed.length > 0 ? `; first failure: ${failed[0].error ?? failed[0].status}` : ''}`);
		for (const key of keys) {
			const admittedNow = results.filter(result => result.key === key && result.status === 200).length;
			admitted.set(key, (admitted.get(key) ?? 0) + admittedNow);
		}

		// Where the fresh keys' hits were admitted: before the kill, while Redis was down, after its restart.
		const fresh = results.filter(result => result.key !== '127.0.0.3' && result.status === 200);
		const spread = [
			fresh.filter(result => result.at <= phase.killed).length,
			fresh.filter(result => result.at > phase.killed && result.at <= phase.restarted).length,
			fresh.filter(result => result.at > phase.restarted).length,
		].join('/');
		const over = keys.filter(key => admitted.get(key) > limit);
		const perKey = keys.map(key => admitted.get(key)).join(', ');
		check('the limit held across the kill', over.length === 0, `admitted per key in the window: ${perKey} (limit ${limit}; the fresh keys' admissions before/during/after the outage: ${spread}); slowest answer ${Math.max(...results.map(result => result.ms))} ms`);

		const fellBack = count(appOutput, 'Redis store failed. Falling back');
		const recovered = count(appOutput, 'Redis store recovered');
		const lines = appOutput.split('\n').filter(line => line.trim() !== '').length;
		check('one log line per state change, not per request', fellBack === 1 && recovered === 1 && count(appOutput, 'Redis is unreachable') <= 1 && count(appOutput, 'Unhandled error event') === 0, `"Falling back" ×${fellBack}, "recovered" ×${recovered}, ${lines} lines in all for ${results.length + limit + 6} requests`);

		// Both stores down (PostgreSQL apps: their database can be taken away): 503 with Retry-After, never a 500.
		if (database) {
			await stopChild(redis, 'SIGKILL');
			await postgres(`DROP DATABASE ${database} WITH (FORCE)`);
			const answers = [];
			for (let index = 0; index < 5; index++) {
				// One after the other, as a client retries.
				// eslint-disable-next-line no-await-in-loop
				answers.push(await get(port, '127.0.0.20'));
			}

			const closed = answers.every(result => result.status === 503 && Number(result.headers['retry-after']) > 0);
			check('both stores down: 503 with Retry-After', closed && server.exitCode === null, summarize(answers));
		}

		// SIGTERM: the server closes, the stores' timers stop, the clients disconnect, and nothing keeps the process up.
		const exit = new Promise(resolveExit => server.once('exit', (code, signal) => resolveExit(code ?? signal)));
		server.kill('SIGTERM');
		const code = await Promise.race([exit, delay(10_000, 'still running after 10 s')]);
		check('the app stops on SIGTERM', code === 0, String(code));
	} catch (error) {
		check('the run', false, error.stack);
	} finally {
		await Promise.all(children.map(async child => stopChild(child())));
		if (database) {
			await postgres(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(error => console.log(`  (could not drop ${database}: ${error.message})`));
		}

		const seconds = ((Date.now() - started) / 1000).toFixed(0);
		console.log(`  ${app.name}: ${seconds} s`);
		if (!keep && checks.every(({ok}) => ok)) {
			rmSync(dir, {recursive: true, force: true});
		}
	}

	return checks;
}

const count = (text, needle) => text.split(needle).length - 1;

function summarize(results) {
	const statuses = {};
	for (const {status, error} of results) {
		const key = status === 0 ? `error (${error})` : String(status);
		statuses[key] = (statuses[key] ?? 0) + 1;
	}

	return Object.entries(statuses).map(([status, n]) => `${n}× ${status}`).join(', ');
}

async function main() {
	const {values} = parseArgs({options: {
		only: {type: 'string'},
		tarball: {type: 'string'},
		keep: {type: 'boolean', default: false},
		summary: {type: 'string'},
		'check-docs': {type: 'boolean', default: false},
	}});
	const blocks = parsePage(readFileSync(docsPage, 'utf8'));
	const byApp = plan(blocks);
	if (values['check-docs']) {
		console.log(JSON.stringify({blocks, apps: Object.fromEntries(Object.entries(byApp).map(([name, list]) => [name, list.map(block => block.line)]))}, null, '\t'));
		return;
	}

	const selected = values.only ? apps.filter(app => values.only.split(',').includes(app.name)) : apps;
	if (selected.length === 0) {
		throw new Error(`--only names no app; the apps: ${apps.map(app => app.name).join(', ')}`);
	}

	const started = Date.now();
	const work = mkdtempSync(join(tmpdir(), 'connection-guard-copy-path-'));
	const results = [];
	let tarball = values.tarball && resolve(values.tarball);
	if (!tarball) {
		// As `npm publish` would: prepack builds dist/ and the copy templates and leaves the repository's `prepare` out of
		// the published package.json; postpack puts it back.
		console.log('npm pack');
		// Not --json: the prepack build writes to the same stdout. The tarball is the one file in its folder.
		const packed = join(work, 'pack');
		mkdirSync(packed);
		execFileSync('npm', ['pack', '--pack-destination', packed], {cwd: root, stdio: ['ignore', 'ignore', 'inherit']});
		tarball = join(packed, readdirSync(packed).find(file => file.endsWith('.tgz')));
	}

	const manifest = JSON.parse(execFileSync('tar', ['-xOzf', tarball, 'package/package.json'], {encoding: 'utf8'}));
	const installScripts = ['preinstall', 'install', 'postinstall', 'prepare'].filter(script => manifest.scripts?.[script]);
	results.push({app: 'tarball', name: 'the published package.json has no install script', ok: installScripts.length === 0, detail: installScripts.join(', ')});
	console.log(`${installScripts.length === 0 ? 'ok  ' : 'FAIL'} ${tarball}: no install script in its package.json${installScripts.length > 0 ? ` (has ${installScripts.join(', ')})` : ''}`);

	for (const app of selected) {
		// One app after the other: each npm install and build has the machine to itself.
		// eslint-disable-next-line no-await-in-loop
		for (const result of await runApp(app, byApp[app.name], {tarball, work, keep: values.keep})) {
			results.push({app: app.name, ...result});
		}
	}

	const passed = results.filter(({ok}) => ok).length;
	const failed = results.length - passed;
	const failures = results.filter(({ok}) => !ok)
		.map(({app, name, detail}) => `failed: ${app}: ${name}${detail ? ` — ${detail.split('\n')[0]}` : ''}`);
	for (const failure of failures) {
		console.log(failure);
	}

	const line = `copy-path: ${passed} passed, ${failed} failed`;
	console.log(`${line} (${((Date.now() - started) / 1000).toFixed(0)} s; logs in ${work})`);
	if (values.summary) {
		// The failures too: CI's closing summary names them under this count (.ci/run).
		writeFileSync(values.summary, [...failures, line, ''].join('\n'));
	}

	if (failed > 0 || !existsSync(tarball)) {
		process.exitCode = 1;
	}
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
	main().catch(error => {
		console.error(error.stack);
		process.exitCode = 1;
	});
}
