/*
docs/rate-limiting-in-your-app.md is what `npm run test:copy-path` runs (scripts/copy-path.mjs); this checks, without
installing anything, that the page parses, that every block of it is run for at least one kind of app, and that the
RateLimitHit model it tells users to add is the one the example schemas and `connection-guard add` use.
*/
import {execFile} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {promisify} from 'node:util';

const run = promisify(execFile);
const root = resolve(__dirname, '../..');

type Block = {line: number; action: string; path?: string; tags: string[]; language: string; content: string};
type Plan = {blocks: Block[]; apps: Record<string, number[]>};

let plan: Plan;

beforeAll(async () => {
	const {stdout} = await run(process.execPath, [join(root, 'scripts', 'copy-path.mjs'), '--check-docs']);
	plan = JSON.parse(stdout) as Plan;
});

/** The model's lines, comments and blank lines left out. */
const modelOf = (text: string) => {
	const model = /^model RateLimitHit \{\n[\s\S]*?^\}$/m.exec(text);
	if (!model) {
		throw new Error(`no RateLimitHit model in:\n${text}`);
	}

	return model[0].split('\n').filter(line => line.trim() !== '' && !line.trim().startsWith('//')).join('\n');
};

test('every block runs in some kind of app, and each kind builds, starts and covers the whole path', () => {
	const run = new Set(Object.values(plan.apps).flat());
	expect(plan.blocks.filter(block => !run.has(block.line))).toEqual([]);
	for (const [name, lines] of Object.entries(plan.apps)) {
		const blocks = plan.blocks.filter(block => lines.includes(block.line));
		const commands = blocks.filter(block => block.action === 'run').map(block => block.content).join('\n');
		expect({name, init: commands.includes('npm init -y'), add: commands.includes('npx connection-guard add rate-limit'), generate: commands.includes('npx prisma generate')})
			.toEqual({name, init: true, add: true, generate: true});
		expect(blocks.filter(block => block.action === 'start')).toHaveLength(1);
		// Plain JavaScript apps need no TypeScript anywhere.
		if (name.startsWith('js-')) {
			expect(commands).not.toMatch(/typescript|tsc/);
			expect(blocks.filter(block => block.action === 'file' && /\.ts$/.test(block.path!))).toEqual([]);
		}
	}
});

test('the model the page adds is the example schemas\' and the one `connection-guard add` prints', async () => {
	const appended = plan.blocks.find(block => block.action === 'append' && block.path === 'prisma/schema.prisma');
	expect(appended).toBeDefined();
	const model = modelOf(appended!.content);
	for (const provider of ['sqlite', 'postgres']) {
		expect(modelOf(readFileSync(join(root, 'examples', 'rate-limit', 'prisma', provider, 'schema.prisma'), 'utf8'))).toBe(model);
	}

	const app = mkdtempSync(join(tmpdir(), 'connection-guard-model-'));
	try {
		writeFileSync(join(app, 'package.json'), '{"name": "app"}');
		const {stdout} = await run(process.execPath, [join(root, 'bin', 'connection-guard.mjs'), 'add', 'rate-limit', '--dry-run'], {cwd: app});
		expect(modelOf(stdout.replaceAll(/^ {5}/gm, ''))).toBe(model);
	} finally {
		rmSync(app, {recursive: true, force: true});
	}
});

test('npm install installs the tarball in place of connection-guard, and nothing else is changed', async () => {
	const {stdout} = await run(process.execPath, ['--input-type=module', '-e', `
		const {withTarball} = await import(${JSON.stringify(join(root, 'scripts', 'copy-path.mjs'))});
		console.log(JSON.stringify(withTarball('npm install connection-guard ioredis\\nnpx connection-guard add rate-limit\\nnpm i -D @types/connection-guard connection-guard', '/t/cg.tgz')));
	`]);
	expect(JSON.parse(stdout)).toBe('npm install /t/cg.tgz ioredis\nnpx connection-guard add rate-limit\nnpm i -D @types/connection-guard /t/cg.tgz');
});
