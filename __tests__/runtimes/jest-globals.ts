/*
The jest globals the integration suites use, on runtimes where jest does not run, so that the same contract files run
unchanged there: `describe`/`describe.each`, `test`/`it`/`test.each`, the four hooks, `jest.setTimeout` and
`jest.spyOn`, mapped onto `node:test`, jest's own `expect` and `jest-mock` packages. Only what those suites use: `.each`
with `$field` and `%s`/`%p` titles, no fake timers.

Deno (`deno test`) runs on these. Bun's `bun test` binds its own jest-compatible globals in every module it loads, and
they win over these assignments, so on Bun the suites run on Bun's jest API and Bun counts the tests.
*/
import {format} from 'node:util';
import * as nodeTest from 'node:test';
import {expect} from 'expect';
import {ModuleMocker} from 'jest-mock';

type Body = () => unknown;

// jest.setTimeout() applies to the tests registered after it, as in jest (each suite file calls it at the top).
let timeoutMs = 5000;

/** The title of one row of a `.each` table: jest's `$field` and printf-style placeholders. */
function titleOf(template: string, row: unknown): string {
	if (template.includes('$') && row && typeof row === 'object' && !Array.isArray(row)) {
		return template.replaceAll(/\$(\w+)/g, (_match, field: string) => String((row as Record<string, unknown>)[field]));
	}

	const values = Array.isArray(row) ? row : [row];
	return format(template.replaceAll('%p', '%o'), ...values);
}

function each<F extends (title: string, body: Body) => unknown>(register: F) {
	return (table: readonly unknown[]) => (template: string, body: (...arguments_: any[]) => unknown) => {
		for (const row of table) {
			register(titleOf(template, row), () => Array.isArray(row) ? body(...row) : body(row));
		}
	};
}

// Counted here (on Deno; Bun counts its own): a test that never passed — it failed, timed out, or a hook failed before
// it — is a failure. scripts/other-runtimes.sh reads the lines printed after the last test: each failure as
// "failed: TITLE" with its error's first lines indented under it (CI's closing summary repeats them), then the counts.
const notPassed = new Map<number, {title: string; error: string}>();
let registered = 0;
let passed = 0;
/** Prints what failed and "N passed, N failed" after all tests registered: call once the suites are imported. */
export function reportCounts(): void {
	nodeTest.after(() => {
		for (const {title, error} of notPassed.values()) {
			console.log(`failed: ${title}`);
			for (const line of error.split('\n').filter(Boolean).slice(0, 5)) {
				console.log(`    ${line}`);
			}
		}

		console.log(`${passed} passed, ${registered - passed} failed`);
	});
}

const test = (title: string, body: Body, ms?: number) => {
	registered++;
	const key = registered;
	const fullTitle = [...describing, title].join(' > ');
	// Until it passes: a test that times out or whose hook failed never reaches its catch.
	notPassed.set(key, {title: fullTitle, error: 'did not finish: timed out, or a hook before it failed'});
	return nodeTest.test(title, {timeout: ms ?? timeoutMs}, async () => {
		try {
			await body();
		} catch (error) {
			notPassed.set(key, {title: fullTitle, error: error instanceof Error ? error.message : String(error)});
			throw error;
		}

		notPassed.delete(key);
		passed++;
	});
};
test.each = each(test);

// The describe titles around the test being registered (bodies run synchronously), for the failure lines' full titles.
const describing: string[] = [];
const describe = (title: string, body: Body) => nodeTest.describe(title, () => {
	describing.push(title);
	try {
		body();
	} finally {
		describing.pop();
	}
});
describe.each = each(describe);

const hook = (register: (fn: () => Promise<void>, options: {timeout: number}) => void) => (body: Body, ms?: number) => {
	register(async () => {
		await body();
	}, {timeout: ms ?? timeoutMs});
};

const mocker = new ModuleMocker(globalThis);

Object.assign(globalThis, {
	describe,
	test,
	it: test,
	beforeAll: hook(nodeTest.before),
	afterAll: hook(nodeTest.after),
	beforeEach: hook(nodeTest.beforeEach),
	afterEach: hook(nodeTest.afterEach),
	expect,
	jest: {
		setTimeout(ms: number) {
			timeoutMs = ms;
		},
		spyOn: mocker.spyOn.bind(mocker),
	},
});
