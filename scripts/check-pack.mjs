#!/usr/bin/env node
// Checks what users install: packs the tarball, lints it with publint and @arethetypeswrong/cli, then installs it into
// a temporary project and uses it from both require() and import; with GIT_SOURCE, the same for the repository
// installed from git. Run after `npm run build` (packing skips `prepare`).
import {execFileSync} from 'node:child_process';
import {cpSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';

const root = resolve(import.meta.dirname, '..');
const run = (command, arguments_, options = {}) => {
	console.log(`$ ${command} ${arguments_.join(' ')}`);
	execFileSync(command, arguments_, {stdio: 'inherit', cwd: root, ...options});
};

const work = mkdtempSync(join(tmpdir(), 'connection-guard-pack-'));
try {
	const [{filename}] = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], {cwd: root, encoding: 'utf8'}));
	const tarball = join(work, filename);

	run('npx', ['--no-install', 'publint', '--strict', tarball]);
	run('npx', ['--no-install', 'attw', tarball]);

	const app = join(work, 'app');
	run('mkdir', ['-p', app]);
	writeFileSync(join(app, 'package.json'), JSON.stringify({name: 'smoke', private: true, version: '1.0.0'}));
	run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', tarball], {cwd: app});

	// A client of the smallest supported shape (ioredis-like), so the smoke test needs nothing else from the registry.
	const client = `
		const {EventEmitter} = require('node:events');
		class Client extends EventEmitter {
			status = 'wait'; calls = 0;
			async connect() { this.calls++; this.status = 'connecting'; await null; this.status = 'ready'; process.nextTick(() => this.emit('ready')); }
			disconnect() {}
		}`;
	const use = `
		const client = new Client();
		const guard = guardedRedis(client);
		const results = await Promise.all([guard.ensureConnected(), guard.ensureConnected()]);
		if (results[0] !== client || client.calls !== 1) throw new Error('guard did not share one connect()');
		if (await singleFlight(() => 42)() !== 42) throw new Error('singleFlight broken');
		if (!(new ConnectionGuardError('TIMEOUT', 'x') instanceof Error)) throw new Error('error class broken');
		console.log('ok:', MODE, 'on Node', process.version);`;

	writeFileSync(join(app, 'smoke.cjs'), `${client}
		const {guardedRedis, singleFlight, ConnectionGuardError} = require('connection-guard');
		const MODE = 'require()';
		(async () => {${use}})().catch(error => { console.error(error); process.exit(1); });`);
	writeFileSync(join(app, 'smoke.mjs'), `import {createRequire} from 'node:module';
		const require = createRequire(import.meta.url);
		${client}
		import {guardedRedis, singleFlight, ConnectionGuardError} from 'connection-guard';
		const MODE = 'import';
		${use}`);
	// The machine's Node, and every other Node binary named in SMOKE_NODES (colon-separated; .ci/run passes 22, 24, 26).
	const nodes = [process.execPath, ...(process.env.SMOKE_NODES ?? '').split(':').filter(Boolean)];
	for (const node of nodes) {
		run(node, ['smoke.cjs'], {cwd: app});
		run(node, ['smoke.mjs'], {cwd: app});
	}

	// GIT_SOURCE=path: the repository installed from git, as `npm install git+https://…` does. npm clones it, installs
	// its dependencies and runs its `prepare`, which must build dist/ (nothing else would).
	if (process.env.GIT_SOURCE) {
		const gitApp = join(work, 'git-app');
		run('mkdir', ['-p', gitApp]);
		writeFileSync(join(gitApp, 'package.json'), JSON.stringify({name: 'git-smoke', private: true, version: '1.0.0'}));
		run('npm', ['install', '--no-audit', '--no-fund', `git+file://${resolve(process.env.GIT_SOURCE)}`], {cwd: gitApp});
		for (const file of ['smoke.cjs', 'smoke.mjs']) {
			cpSync(join(app, file), join(gitApp, file));
			run(process.execPath, [file], {cwd: gitApp});
		}
	}
} finally {
	rmSync(work, {recursive: true, force: true});
}
