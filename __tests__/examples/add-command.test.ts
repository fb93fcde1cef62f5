/*
`npx connection-guard add rate-limit` (bin/connection-guard.mjs), run as a user runs it, in temporary app folders: it
copies TypeScript or JavaScript (ESM or CommonJS) to match the app, the copies load, it never overwrites a file of the
app's without --force, and it says what the app still needs. Needs `npm run build` (templates/), as `npm test` does.
*/
import {execFile} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {promisify} from 'node:util';

const run = promisify(execFile);
const root = resolve(__dirname, '../..');
const command = join(root, 'bin', 'connection-guard.mjs');
const {version} = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {version: string};

type Component = {source: string; files: string[]; packages: {ts: string[]; js: string[]}};
const components = JSON.parse(readFileSync(join(root, 'templates', 'components.json'), 'utf8')) as Record<string, Component>;
const rateLimit = components['rate-limit']!;

jest.setTimeout(30_000);

let app: string;

beforeEach(() => {
	app = mkdtempSync(join(tmpdir(), 'connection-guard-add-'));
});

afterEach(() => {
	rmSync(app, {recursive: true, force: true});
});

function writeApp(packageJson: Record<string, unknown>, files: Record<string, string> = {}): void {
	writeFileSync(join(app, 'package.json'), JSON.stringify({name: 'app', version: '1.0.0', ...packageJson}));
	for (const [file, content] of Object.entries(files)) {
		mkdirSync(join(app, file, '..'), {recursive: true});
		writeFileSync(join(app, file), content);
	}
}

/** Runs the command in the app; resolves with its exit code and output (never rejects on a non-zero exit). */
async function add(...arguments_: string[]): Promise<{code: number; stdout: string; stderr: string}> {
	try {
		const {stdout, stderr} = await run(process.execPath, [command, ...arguments_], {cwd: app});
		return {code: 0, stdout, stderr};
	} catch (error) {
		const {code, stdout, stderr} = error as {code: number; stdout: string; stderr: string};
		return {code, stdout, stderr};
	}
}

const header = (file: string) =>
	`// From connection-guard ${version} (examples/rate-limit/${file}), copied by \`npx connection-guard add rate-limit\`: yours to change.\n`;

/** The package resolvable from the app, as `npm install connection-guard` makes it (this checkout's built dist/). */
function linkPackage(): void {
	mkdirSync(join(app, 'node_modules'), {recursive: true});
	symlinkSync(root, join(app, 'node_modules', 'connection-guard'), 'dir');
}

test('a TypeScript app (tsconfig.json) gets the TypeScript sources, under src/ when it has one', async () => {
	writeApp({type: 'commonjs'}, {'tsconfig.json': '{}', 'src/app.ts': ''});

	const {code, stdout} = await add('add', 'rate-limit');

	expect(code).toBe(0);
	expect(stdout).toContain('as TypeScript (tsconfig.json found), CommonJS package, into src/rate-limit/');
	expect(readdirSync(join(app, 'src', 'rate-limit')).sort()).toEqual(rateLimit.files);
	for (const file of rateLimit.files) {
		expect(readFileSync(join(app, 'src', 'rate-limit', file), 'utf8')).toBe(header(file) + readFileSync(join(root, 'examples', 'rate-limit', file), 'utf8'));
	}

	// What the files import that package.json lacks: for TypeScript, the packages whose types they use too.
	expect(stdout).toContain(`npm install ${rateLimit.packages.ts.join(' ')}`);
});

test('an ESM JavaScript app gets ES modules that load', async () => {
	writeApp({type: 'module', dependencies: {'connection-guard': version}});
	linkPackage();

	const {code, stdout} = await add('add', 'rate-limit');

	expect(code).toBe(0);
	expect(stdout).toContain('as JavaScript, ES modules (package.json "type": "module"), into rate-limit/');
	expect(readdirSync(join(app, 'rate-limit')).sort()).toEqual(rateLimit.files.map(file => file.replace(/\.ts$/, '.js')));
	expect(stdout).not.toContain('npm install');
	const {stdout: loaded} = await run(process.execPath, ['--input-type=module', '-e', `
		const {FallbackRateLimitStore} = await import('./rate-limit/fallback-store.js');
		const {applyRateLimitMigrations, PrismaRateLimitStore} = await import('./rate-limit/prisma-store.js');
		const {RedisRateLimitStore} = await import('./rate-limit/redis-store.js');
		console.log([FallbackRateLimitStore, applyRateLimitMigrations, PrismaRateLimitStore, RedisRateLimitStore].map(value => typeof value).join());
	`], {cwd: app});
	expect(loaded.trim()).toBe('function,function,function,function');
});

test('a CommonJS JavaScript app (no "type") gets CommonJS that loads', async () => {
	writeApp({});
	linkPackage();

	const {code, stdout} = await add('add', 'rate-limit');

	expect(code).toBe(0);
	expect(stdout).toContain('as JavaScript, CommonJS (package.json "type": "commonjs"), into rate-limit/');
	expect(stdout).toContain(`npm install ${rateLimit.packages.js.join(' ')}`);
	const {stdout: loaded} = await run(process.execPath, ['-e', `
		const {FallbackRateLimitStore} = require('./rate-limit/fallback-store.js');
		const {applyRateLimitMigrations} = require('./rate-limit/prisma-store.js');
		const {RedisRateLimitStore} = require('./rate-limit/redis-store.js');
		console.log([FallbackRateLimitStore, applyRateLimitMigrations, RedisRateLimitStore].map(value => typeof value).join());
	`], {cwd: app});
	expect(loaded.trim()).toBe('function,function,function');
});

test('--format esm in a CommonJS package writes .mjs files that import each other as .mjs', async () => {
	writeApp({});
	linkPackage();

	const {code} = await add('add', 'rate-limit', '--format', 'esm', '--dir', 'lib/limiter');

	expect(code).toBe(0);
	const files = readdirSync(join(app, 'lib', 'limiter'));
	expect(files.every(file => file.endsWith('.mjs'))).toBe(true);
	expect(readFileSync(join(app, 'lib', 'limiter', 'fallback-store.mjs'), 'utf8')).toContain('\'./options.mjs\'');
	const {stdout: loaded} = await run(process.execPath, ['--input-type=module', '-e', `
		const {FallbackRateLimitStore} = await import('./lib/limiter/fallback-store.mjs');
		console.log(typeof FallbackRateLimitStore);
	`], {cwd: app});
	expect(loaded.trim()).toBe('function');
});

test('a file of the app that differs is never overwritten without --force, and then nothing at all is written', async () => {
	writeApp({type: 'module'}, {'rate-limit/options.js': '// mine\n'});

	const refused = await add('add', 'rate-limit');

	expect(refused.code).toBe(1);
	expect(refused.stderr).toContain('rate-limit/options.js');
	expect(refused.stderr).toContain('nothing was written (--force overwrites them)');
	expect(readdirSync(join(app, 'rate-limit'))).toEqual(['options.js']);
	expect(readFileSync(join(app, 'rate-limit', 'options.js'), 'utf8')).toBe('// mine\n');

	const forced = await add('add', 'rate-limit', '--force');

	expect(forced.code).toBe(0);
	expect(forced.stdout).toContain('overwrote rate-limit/options.js');
	expect(readFileSync(join(app, 'rate-limit', 'options.js'), 'utf8')).toBe(header('options.ts') + readFileSync(join(root, 'templates', 'rate-limit', 'esm', 'options.js'), 'utf8'));

	// The same files again: nothing to overwrite, so no --force needed.
	const again = await add('add', 'rate-limit');
	expect(again.code).toBe(0);
	expect(again.stdout).toContain('unchanged rate-limit/options.js');
});

test('--dry-run writes nothing', async () => {
	writeApp({type: 'module'});

	const {code, stdout} = await add('add', 'rate-limit', '--dry-run');

	expect(code).toBe(0);
	expect(stdout).toContain('would have created rate-limit/fallback-store.js');
	expect(existsSync(join(app, 'rate-limit'))).toBe(false);
});

test('it reads the database from prisma/schema.prisma, and prints the model only when the schema lacks it', async () => {
	const schema = 'datasource db {\n  provider = "postgresql"\n}\n';
	writeApp({type: 'module'}, {'prisma/schema.prisma': schema});

	const without = await add('add', 'rate-limit', '--dry-run');
	expect(without.stdout).toContain('Add the model to prisma/schema.prisma');
	expect(without.stdout).toContain('model RateLimitHit {');
	expect(without.stdout).toContain('await applyRateLimitMigrations(prisma, \'postgres\');');

	writeFileSync(join(app, 'prisma', 'schema.prisma'), `${schema}\nmodel RateLimitHit {\n  key String @id\n}\n`);
	const withModel = await add('add', 'rate-limit', '--dry-run', '--prisma', 'sqlite');
	expect(withModel.stdout).not.toContain('Add the model');
	expect(withModel.stdout).toContain('await applyRateLimitMigrations(prisma, \'sqlite\');');

	writeFileSync(join(app, 'prisma', 'schema.prisma'), 'datasource db {\n  provider = "mysql"\n}\n');
	const mysql = await add('add', 'rate-limit', '--dry-run');
	expect(mysql.stdout).toContain('uses the `mysql` provider: the Prisma fallback\'s SQL is written for SQLite and PostgreSQL only');
});

test('usage errors exit with 2 and say what is wrong', async () => {
	const noPackage = await add('add', 'rate-limit');
	expect(noPackage.code).toBe(2);
	expect(noPackage.stderr).toContain('No package.json here');

	writeApp({});
	const unknown = await add('add', 'rate-limits');
	expect(unknown.code).toBe(2);
	expect(unknown.stderr).toContain('Unknown component `rate-limits`; there is: rate-limit');

	const format = await add('add', 'rate-limit', '--format', 'coffee');
	expect(format.code).toBe(2);
	expect(format.stderr).toContain('Expected --format to be ts, esm or cjs, got `coffee`');

	const option = await add('add', 'rate-limit', '--frce');
	expect(option.code).toBe(2);
	expect(option.stderr).toContain('--frce');

	const help = await add('--help');
	expect(help.code).toBe(0);
	expect(help.stdout).toContain('rate-limit');
	expect(existsSync(join(app, 'rate-limit'))).toBe(false);
});
