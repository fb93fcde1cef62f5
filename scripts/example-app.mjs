// What `npm run example:nextjs` and `npm run example:nestjs` share: install the app's own packages when they are
// missing, build it when there is no build or a source is newer than it, start it on 127.0.0.1 with the caller's
// environment, and print the address once it serves. With `--prepare` it installs and builds, then exits: the HTTP
// tests run that once before their files start apps side by side, and CI runs it for both apps one after the other
// (an app's `npm install` also installs into this repository, through its `file:../..` link).
// The apps import the example stores and the built package from this repository, so its own `npm install` comes first.
import {spawn, spawnSync} from 'node:child_process';
import {existsSync, readdirSync, statSync} from 'node:fs';
import {join, resolve} from 'node:path';

export const root = resolve(import.meta.dirname, '..');

/** The newest modification time under `path` (files only), skipping what builds and installs write. */
function newest(path) {
	const stats = statSync(path);
	if (!stats.isDirectory()) {
		return stats.mtimeMs;
	}

	return Math.max(0, ...readdirSync(path)
		.filter(name => !['node_modules', '.next', '.data', 'dist', 'generated'].includes(name))
		.map(name => newest(join(path, name))));
}

/** Installs the app's packages when they are missing and builds it when its build is missing or older than a source. */
function prepare(app, env) {
	const step = (what, command, arguments_) => {
		console.error(`${app.name}: ${what}`);
		const {status} = spawnSync(command, arguments_, {cwd: app.dir, env, stdio: ['ignore', 'inherit', 'inherit']});
		if (status !== 0) {
			console.error(`${app.name}: ${what} failed`);
			process.exit(status ?? 1);
		}
	};

	if (!existsSync(join(root, 'dist', 'index.js')) || !existsSync(join(root, 'node_modules'))) {
		console.error(`${app.name}: run \`npm install\` in the repository first (it builds dist/ and the Prisma clients).`);
		process.exit(1);
	}

	if (!existsSync(app.installed)) {
		step(`installing the app's packages (${app.dir.slice(root.length + 1)})`, 'npm', ['install', '--no-audit', '--no-fund']);
	}

	const sources = [app.dir, join(root, 'examples', 'rate-limit'), join(root, 'dist')];
	if (!existsSync(app.built) || Math.max(...sources.map(newest)) > statSync(app.built).mtimeMs) {
		step(`building (${app.build.map(part => part.split('/').pop()).join(' ')})`, process.execPath, app.build);
	}
}

/**
@param {object} app
@param {string} app.name `example:…`, the prefix of every line this prints.
@param {string} app.dir The app's folder.
@param {string} app.installed A file that exists once the app's packages are installed.
@param {string} app.built A file the build writes last.
@param {string[]} app.build The build command (run with this Node).
@param {string[]} app.start The start command (run with this Node); gets PORT from the environment or `--port`.
@param {RegExp} app.ready What the app prints once it serves.
@param {string} app.routes Named in the address line.
@param {Record<string, string>} [app.env]
*/
export function runExampleApp(app) {
	const env = {...process.env, ...app.env};
	prepare(app, env);
	if (process.argv.includes('--prepare')) {
		return;
	}

	const port = Number(process.env.PORT || 3000);
	const server = spawn(process.execPath, app.start, {cwd: app.dir, env: {...env, PORT: String(port)}, stdio: ['ignore', 'pipe', 'inherit']});
	let announced = false;
	server.stdout.on('data', chunk => {
		process.stdout.write(chunk);
		if (!announced && app.ready.test(String(chunk))) {
			announced = true;
			console.log(`${app.name}: serving on http://127.0.0.1:${port} (${app.routes})`);
		}
	});
	for (const signal of ['SIGINT', 'SIGTERM']) {
		process.once(signal, () => {
			server.kill(signal);
		});
	}

	server.once('exit', code => {
		process.exit(code ?? 0);
	});
}
