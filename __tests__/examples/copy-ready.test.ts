/*
The example stores run from wherever they are copied and whatever the working directory: their migrations are strings
in a module (migrations.ts), looked up neither beside the module nor relative to process.cwd().
*/
import {execFile} from 'node:child_process';
import {mkdtempSync, realpathSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {promisify} from 'node:util';
import {createRateLimitPrisma} from '../../examples/rate-limit/prisma-clients.js';
import {PrismaRateLimitStore} from '../../examples/rate-limit/prisma-store.js';

const run = promisify(execFile);
const root = resolve(__dirname, '../..');

jest.setTimeout(60_000);

let elsewhere: string;

beforeEach(() => {
	elsewhere = realpathSync(mkdtempSync(join(tmpdir(), 'connection-guard-elsewhere-')));
});

afterEach(() => {
	rmSync(elsewhere, {recursive: true, force: true});
});

test('createRateLimitPrisma works with the process in another directory (jest, CommonJS)', async () => {
	const previous = process.cwd();
	process.chdir(elsewhere);
	try {
		const {prisma} = await createRateLimitPrisma(`file:${join(elsewhere, 'rate-limit.db')}`);
		const store = new PrismaRateLimitStore({prisma, windowMs: 60_000, cleanupIntervalMs: 0});
		await expect(store.increment('k')).resolves.toMatchObject({totalHits: 1});
		await expect(store.increment('k')).resolves.toMatchObject({totalHits: 2});
		await prisma.$disconnect();
	} finally {
		process.chdir(previous);
	}
});

test('createRateLimitPrisma works with the process in another directory (tsx, ESM, as an app runs it)', async () => {
	const {stdout} = await run(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, '__tests__/fixtures/count-from-anywhere.ts')], {
		cwd: elsewhere,
	});
	expect(JSON.parse(stdout)).toEqual({cwd: elsewhere, hits: [1, 2]});
});
