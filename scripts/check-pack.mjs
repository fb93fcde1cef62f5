#!/usr/bin/env node
// Checks what users install: packs the tarball as `npm publish` would (prepack builds dist/ and the copy templates and
// leaves the repository's `prepare` out of the published package.json), lints it with publint and
// @arethetypeswrong/cli, checks that every link of its Markdown files leads to a file it holds, then installs it into a
// temporary project (no install-script warning about it) and uses it from both require() and import, and its
// `connection-guard add` command; with GIT_SOURCE, the same for the repository installed from git.
import {execFileSync} from 'node:child_process';
import {cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, posix, resolve} from 'node:path';

const root = resolve(import.meta.dirname, '..');
const run = (command, arguments_, options = {}) => {
	console.log(`$ ${command} ${arguments_.join(' ')}`);
	execFileSync(command, arguments_, {stdio: 'inherit', cwd: root, ...options});
};

/** Runs a command and returns what it printed on stdout and stderr, echoing it; throws with it when it fails. */
const capture = (command, arguments_, options = {}) => {
	console.log(`$ ${command} ${arguments_.join(' ')}`);
	const output = execFileSync('bash', ['-c', '"$0" "$@" 2>&1', command, ...arguments_], {cwd: root, encoding: 'utf8', ...options});
	process.stdout.write(output);
	return output;
};

/** Relative links of a Markdown file (`[text](target)`, `![alt](target)`), without their #fragment. */
const linksOf = text => [...text.matchAll(/\]\(([^)\s]+)\)/g)].map(match => match[1])
	.filter(target => !/^[a-z][a-z\d+.-]*:/i.test(target) && !target.startsWith('#'))
	.map(target => decodeURI(target.split('#')[0]));

const work = mkdtempSync(join(tmpdir(), 'connection-guard-pack-'));
try {
	// Not --json: the prepack build writes to the same stdout. The tarball is the one file in its folder.
	const packed = join(work, 'pack');
	mkdirSync(packed);
	run('npm', ['pack', '--pack-destination', packed]);
	const tarball = join(packed, readdirSync(packed).find(file => file.endsWith('.tgz')));
	const contents = join(work, 'contents');
	mkdirSync(contents);
	run('tar', ['-xzf', tarball, '-C', contents]);
	const packageDir = join(contents, 'package');

	// npm 11 lists a tarball's or git dependency's install scripts (prepare included) as unreviewed; the repository's
	// `prepare` builds a clone and has no business in an app.
	const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
	const installScripts = ['preinstall', 'install', 'postinstall', 'prepare'].filter(script => manifest.scripts?.[script]);
	if (installScripts.length > 0) {
		throw new Error(`The packed package.json has install scripts: ${installScripts.join(', ')}`);
	}

	// Everything the README and the docs link to is in the tarball: npm users have no repository to follow links into.
	const files = execFileSync('tar', ['-tzf', tarball], {encoding: 'utf8'}).split('\n').filter(Boolean).map(file => file.replace(/^package\//, ''));
	const broken = [];
	for (const file of files.filter(file => file.endsWith('.md'))) {
		for (const target of linksOf(readFileSync(join(packageDir, file), 'utf8'))) {
			const path = posix.normalize(posix.join(posix.dirname(file), target)).replace(/\/$/, '');
			if (!files.some(shipped => shipped === path || shipped.startsWith(`${path}/`))) {
				broken.push(`${file} → ${target}`);
			}
		}
	}

	if (broken.length > 0) {
		throw new Error(`Links to files the tarball does not hold:\n  ${broken.join('\n  ')}`);
	}

	console.log(`${files.length} files; every link of its ${files.filter(file => file.endsWith('.md')).length} Markdown files leads to one of them.`);

	run('npx', ['--no-install', 'publint', '--strict', tarball]);
	run('npx', ['--no-install', 'attw', tarball]);

	const app = join(work, 'app');
	run('mkdir', ['-p', app]);
	writeFileSync(join(app, 'package.json'), JSON.stringify({name: 'smoke', private: true, version: '1.0.0'}));
	const installed = capture('npm', ['install', '--no-audit', '--no-fund', tarball], {cwd: app});
	if (/install-scripts[^\n]*connection-guard/.test(installed)) {
		throw new Error('npm warns about connection-guard\'s install scripts');
	}

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

	// The copy command, as `npx` finds it in the app (the full path per kind of app: npm run test:copy-path).
	checkAddCommand(app);

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

		checkAddCommand(gitApp);
	}
} finally {
	rmSync(work, {recursive: true, force: true});
}

/** `npx connection-guard add rate-limit` copies JavaScript into a CommonJS app, and the copies load. */
function checkAddCommand(app) {
	const output = capture('npx', ['--no-install', 'connection-guard', 'add', 'rate-limit'], {cwd: app});
	const copied = readdirSync(join(app, 'rate-limit'));
	if (!/JavaScript, CommonJS/.test(output) || !copied.includes('fallback-store.js')) {
		throw new Error(`connection-guard add rate-limit did not copy the CommonJS stores (copied: ${copied.join(', ')})`);
	}

	run(process.execPath, ['-e', "const {FallbackRateLimitStore} = require('./rate-limit/fallback-store.js'); if (typeof FallbackRateLimitStore !== 'function') process.exit(1);"], {cwd: app});
	rmSync(join(app, 'rate-limit'), {recursive: true});
}
