/*
Two copies of the package in one process — the ESM and CommonJS builds, and a second install — guarding the same client:
one state (one connect(), close() through one closes all) and `instanceof ConnectionGuardError` holding both ways. Runs
the built files (npm test builds first) in a child process, as an app would load them.
*/
import {execFileSync} from 'node:child_process';
import {copyFileSync, mkdirSync} from 'node:fs';
import {join, resolve} from 'node:path';

const root = resolve(__dirname, '../..');

const script = `
import {EventEmitter} from 'node:events';
import {createRequire} from 'node:module';
import {pathToFileURL} from 'node:url';

const require = createRequire(import.meta.url);
const esm = await import(pathToFileURL(process.env.ESM_ENTRY).href);
const cjs = require(process.env.CJS_ENTRY);
const copy = await import(pathToFileURL(process.env.COPY_ENTRY).href);

class Client extends EventEmitter {
	status = 'wait';
	connects = 0;
	connect() {
		this.connects++;
		this.status = 'connecting';
		return new Promise(resolve => {
			setTimeout(() => {
				this.status = 'ready';
				this.emit('ready');
				resolve();
			}, 10);
		});
	}
	disconnect() {
		this.status = 'end';
		process.nextTick(() => this.emit('end'));
	}
}

const codeOf = promise => promise.then(() => 'ready', error => error);
const client = new Client();
const herd = await Promise.all([esm, cjs, copy].flatMap(build => [build.guardedRedis(client).ensureConnected(), build.guardedRedis(client).ensureConnected()]));
const result = {connectsForHerd: client.connects, herdGotClient: herd.every(value => value === client)};

const ended = new Promise(resolve => client.once('end', resolve));
client.disconnect();
await ended;
await cjs.guardedRedis(client).close();
const fromEsm = await codeOf(esm.guardedRedis(client).ensureConnected());
const fromCopy = await codeOf(copy.guardedRedis(client).ensureConnected({waitForReady: true}));
result.afterCjsClose = [fromEsm.code, fromCopy.code];
result.connectsAfterClose = client.connects;
result.esmErrorIsCjsError = fromEsm instanceof cjs.ConnectionGuardError;
result.copyErrorIsEsmError = fromCopy instanceof esm.ConnectionGuardError;
result.cjsErrorIsEsmError = new cjs.ConnectionGuardError('TIMEOUT', 'x') instanceof esm.ConnectionGuardError;
result.esmErrorIsCopyError = new esm.ConnectionGuardError('CLOSED', 'x') instanceof copy.ConnectionGuardError;
result.plainErrorIsGuardError = new Error('x') instanceof esm.ConnectionGuardError || new Error('x') instanceof cjs.ConnectionGuardError;
result.stillAnError = fromEsm instanceof Error;
console.log(JSON.stringify(result));
`;

test('the ESM build, the CommonJS build and a second install share one state per client and one error brand', () => {
	// A second install: the same ESM file at another path, so Node loads it as another module with its own module state.
	const copyDir = join(root, '.tmp', 'second-install');
	mkdirSync(copyDir, {recursive: true});
	copyFileSync(join(root, 'dist', 'index.js'), join(copyDir, 'index.js'));

	const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
		cwd: root,
		encoding: 'utf8',
		env: {
			...process.env,
			ESM_ENTRY: join(root, 'dist', 'index.js'),
			CJS_ENTRY: join(root, 'dist', 'index.cjs'),
			COPY_ENTRY: join(copyDir, 'index.js'),
		},
	});

	expect(JSON.parse(output)).toEqual({
		connectsForHerd: 1,
		herdGotClient: true,
		afterCjsClose: ['CLOSED', 'CLOSED'],
		connectsAfterClose: 1,
		esmErrorIsCjsError: true,
		copyErrorIsEsmError: true,
		cjsErrorIsEsmError: true,
		esmErrorIsCopyError: true,
		plainErrorIsGuardError: false,
		stillAnError: true,
	});
});
