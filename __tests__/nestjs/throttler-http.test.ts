/*
The storage behind @nestjs/throttler's own guard, over real HTTP (./throttler-app.mjs on the example's build), on a
private redis-server and on the fallback: the throttler's expectations for `blockDuration` shorter and longer than `ttl`
and 0, named throttlers and `skipIf`; Retry-After within the block and honest; one storage used by a second app in the
same process. Waits are for known deadlines (the end of a block or window the server announced), never for luck.
*/
import {spawn} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {cli, freePort, RedisServer} from '../servers/redis-server.js';
import {until} from '../helpers/until.js';

jest.setTimeout(120_000);

const fallbackLine = 'Redis store failed. Falling back to Prisma store for rate limiting.';

type Fixture = {url: string; output(): string; restart(): Promise<void>; stop(): Promise<void>};

async function startFixture(redisUrl: string): Promise<Fixture> {
	const port = await freePort();
	const dir = mkdtempSync(join(tmpdir(), 'connection-guard-throttler-'));
	const child = spawn(process.execPath, [join(__dirname, 'throttler-app.mjs')], {
		env: {...process.env, PORT: String(port), REDIS_URL: redisUrl, DATABASE_URL: `file:${join(dir, 'rate-limit.db')}`},
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let output = '';
	child.stdout.on('data', (chunk: Buffer) => {
		output += chunk.toString();
	});
	child.stderr.on('data', (chunk: Buffer) => {
		output += chunk.toString();
	});
	const exited = new Promise(resolve => child.once('exit', resolve));
	let exitCode: number | null | undefined;
	void exited.then(code => {
		exitCode = code as number | null;
	});
	const serving = (count: number) => output.includes(`throttler-app: serving ${count}`);
	await until(() => serving(1) || exitCode !== undefined, 60_000);
	if (!serving(1)) {
		throw new Error(`throttler-app exited:\n${output}`);
	}

	let generation = 1;
	return {
		url: `http://127.0.0.1:${port}`,
		output: () => output,
		async restart() {
			child.kill('SIGUSR2');
			generation++;
			await until(() => serving(generation), 30_000);
		},
		async stop() {
			child.kill('SIGTERM');
			await exited;
			rmSync(dir, {recursive: true, force: true});
		},
	};
}

type Answer = {status: number; headers: Headers; sentAt: number; receivedAt: number};

async function request(
	fixture: Fixture, path: string, client: string, headers: Record<string, string> = {},
): Promise<Answer> {
	const sentAt = Date.now();
	const response = await fetch(`${fixture.url}${path}`, {headers: {'x-client': client, ...headers}});
	await response.arrayBuffer();
	return {status: response.status, headers: response.headers, sentAt, receivedAt: Date.now()};
}

const header = (answer: Answer, name: string) => Number(answer.headers.get(name));

/** Wait until the clock reads `time` (a deadline the server announced), plus a little for the clocks' rounding. */
async function at(time: number): Promise<void> {
	await sleep(Math.max(0, time - Date.now()) + 20);
}

let clients = 0;
const newClient = () => `client-${process.pid}-${++clients}`;

describe.each([
	['on Redis', true],
	['on the fallback (Redis refused)', false],
])('@nestjs/throttler\'s guard on the storage, %s', (_name, onRedis) => {
	let server: RedisServer | undefined;
	let fixture: Fixture;

	beforeAll(async () => {
		server = onRedis ? await RedisServer.start() : undefined;
		fixture = await startFixture(server?.url ?? `redis://127.0.0.1:${await freePort()}`);
	});

	afterAll(async () => {
		await fixture?.stop();
		await server?.stop();
	});

	const shortBlock = onRedis
		? 'blockDuration 2 s < ttl 6 s: refused for the block, not the window; the request when it ends is let through, counting afresh'
		: 'blockDuration 2 s < ttl 6 s: refused for the block, then until the window ends (the fallback cannot clear a count)';
	test(shortBlock, async () => {
		const client = newClient();
		const first = await request(fixture, '/short-block', client);
		expect(first.status).toBe(200);
		expect(header(first, 'x-ratelimit-remaining')).toBe(1);
		expect((await request(fixture, '/short-block', client)).status).toBe(200);
		const refused = await request(fixture, '/short-block', client);
		expect(refused.status).toBe(429);
		const retryAfter = header(refused, 'retry-after');
		expect(retryAfter).toBeGreaterThanOrEqual(1);
		expect(retryAfter).toBeLessThanOrEqual(2);
		expect((await request(fixture, '/short-block', client)).status).toBe(429);

		// Waiting Retry-After from the answer is enough: the block (2 s), not the window (6 s).
		await at(refused.receivedAt + (retryAfter * 1000));
		const after = await request(fixture, '/short-block', client);
		if (onRedis) {
			expect(after.receivedAt - first.sentAt).toBeLessThan(6000);
			expect(after.status).toBe(200);
			expect(header(after, 'x-ratelimit-remaining')).toBe(1);
			expect((await request(fixture, '/short-block', client)).status).toBe(200);
			expect((await request(fixture, '/short-block', client)).status).toBe(429);
		} else {
			// The fallback cannot clear the count (see the storage's header): blocked again, never past the window.
			expect(after.status).toBe(429);
			await at(first.receivedAt + 6000);
			const fresh = await request(fixture, '/short-block', client);
			expect(fresh.status).toBe(200);
			expect(header(fresh, 'x-ratelimit-remaining')).toBe(1);
		}
	});

	test('blockDuration 3 s > ttl 1 s: the block holds past the window\'s end, then the next request is let through', async () => {
		const client = newClient();
		expect((await request(fixture, '/long-block', client)).status).toBe(200);
		expect((await request(fixture, '/long-block', client)).status).toBe(200);
		const refused = await request(fixture, '/long-block', client);
		expect(refused.status).toBe(429);
		expect(header(refused, 'retry-after')).toBe(3);
		// The 1 s window is over, the block is not.
		await at(refused.receivedAt + 1500);
		const later = await request(fixture, '/long-block', client);
		expect(later.status).toBe(429);
		expect(header(later, 'retry-after')).toBeLessThanOrEqual(2);
		await at(later.receivedAt + (header(later, 'retry-after') * 1000));
		const after = await request(fixture, '/long-block', client);
		expect(after.status).toBe(200);
		expect(header(after, 'x-ratelimit-remaining')).toBe(1);
	});

	test('blockDuration 0: refused until the window ends, as Retry-After says', async () => {
		const client = newClient();
		const first = await request(fixture, '/no-block', client);
		expect((await request(fixture, '/no-block', client)).status).toBe(200);
		const refused = await request(fixture, '/no-block', client);
		expect(refused.status).toBe(429);
		expect(header(refused, 'retry-after')).toBeLessThanOrEqual(2);
		expect(header(refused, 'retry-after')).toBeGreaterThanOrEqual(1);
		await at(Math.max(first.receivedAt + 2000, refused.receivedAt + (header(refused, 'retry-after') * 1000)));
		expect((await request(fixture, '/no-block', client)).status).toBe(200);
	});

	test('a herd of 30: exactly `limit` let through, every Retry-After within the block (2 s)', async () => {
		const client = newClient();
		const answers = await Promise.all(Array.from({length: 30}, async () => request(fixture, '/short-block', client)));
		expect(answers.filter(answer => answer.status === 200)).toHaveLength(2);
		const retryAfters = answers.filter(answer => answer.status === 429).map(answer => header(answer, 'retry-after'));
		expect(retryAfters).toHaveLength(28);
		expect(Math.max(...retryAfters)).toBeLessThanOrEqual(2);
		expect(Math.min(...retryAfters)).toBeGreaterThanOrEqual(1);
	});

	test('named throttlers count apart, with their own headers; a request one refuses is not counted by the next (ordered by ttl)', async () => {
		const client = newClient();
		const first = await request(fixture, '/named', client);
		expect(first.status).toBe(200);
		expect(header(first, 'x-ratelimit-remaining-short')).toBe(0);
		expect(header(first, 'x-ratelimit-remaining-long')).toBe(2);
		expect(first.headers.get('x-ratelimit-remaining')).toBeNull();
		const refused = await request(fixture, '/named', client);
		expect(refused.status).toBe(429);
		expect(header(refused, 'retry-after-short')).toBe(1);
		await at(refused.receivedAt + 1000);
		const second = await request(fixture, '/named', client);
		expect(second.status).toBe(200);
		// The refused request never reached `long`.
		expect(header(second, 'x-ratelimit-remaining-long')).toBe(1);
	});

	test('skipIf: skipped requests are neither limited nor counted, and carry no rate-limit headers', async () => {
		const client = newClient();
		for (let index = 0; index < 10; index++) {
			// eslint-disable-next-line no-await-in-loop
			const skipped = await request(fixture, '/short-block', client, {'x-skip': '1'});
			expect(skipped.status).toBe(200);
			expect(skipped.headers.get('x-ratelimit-limit')).toBeNull();
		}

		const counted = await request(fixture, '/short-block', client);
		expect(header(counted, 'x-ratelimit-remaining')).toBe(1);
	});

	if (onRedis) {
		test('two processes on one Redis: one herd across both lets `limit` through, and both see the block and its end', async () => {
			const other = await startFixture(server!.url);
			try {
				const client = newClient();
				const answers = await Promise.all(Array.from({length: 30}, async (_, index) =>
					request(index % 2 === 0 ? fixture : other, '/short-block', client)));
				expect(answers.filter(answer => answer.status === 200)).toHaveLength(2);
				const [here, there] = [await request(fixture, '/short-block', client), await request(other, '/short-block', client)];
				expect([here.status, there.status]).toEqual([429, 429]);
				const ends = [here, there].map(answer => answer.receivedAt + (header(answer, 'retry-after') * 1000));
				await at(Math.max(...ends));
				// The block ended for both; the count starts afresh, shared: one more each, then refused.
				expect(header(await request(other, '/short-block', client), 'x-ratelimit-remaining')).toBe(1);
				expect(header(await request(fixture, '/short-block', client), 'x-ratelimit-remaining')).toBe(0);
				expect((await request(other, '/short-block', client)).status).toBe(429);
			} finally {
				await other.stop();
			}
		});

		test('one storage, a second app in the same process after the first closed: Redis decides again, on a new connection', async () => {
			const client = newClient();
			expect(header(await request(fixture, '/short-block', client), 'x-ratelimit-remaining')).toBe(1);
			await fixture.restart();
			// The count went on in Redis (not a fallback starting from zero), and the first app's connection is closed.
			const second = await request(fixture, '/short-block', client);
			expect(second.status).toBe(200);
			expect(header(second, 'x-ratelimit-remaining')).toBe(0);
			expect(Number(/connected_clients:(\d+)/.exec(await cli(server!.port, 'INFO', 'clients'))![1])).toBe(2);
			expect(fixture.output()).not.toContain(fallbackLine);
			expect(fixture.output()).not.toContain('was closed');
		});
	}
});
