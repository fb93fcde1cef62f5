/*
The limit holds across an outage (issue 23): limit 20, one key, a fixed sequence of requests — 10 before the fault,
20 during it, 40 after Redis is back — and exactly 20 admitted, on one app process and on two sharing Redis and the
database. Shared by outage-limits.test.ts (SQLite) and outage-limits-postgres.test.ts.
*/
import {fork, type ChildProcess} from 'node:child_process';
import {join, resolve} from 'node:path';
import {Redis} from 'ioredis';
import type {RedisServer} from '../servers/redis-server.js';
import type {TcpProxy} from '../servers/tcp-proxy.js';
import {createLimiter, windowMs, type Decision, type Limiter, type LimiterSettings} from '../fixtures/outage-limiter.js';
import {stateKeyOf} from '../../examples/rate-limit/redis-store.js';
import {proxiedRedis} from '../helpers/proxied-redis.js';

export const limit = 20;
const root = resolve(__dirname, '../..');

/** A fault and its end, on a private redis-server the apps reach through a TCP proxy. */
export type Fault = {
	name: string;
	/** Whether Redis still has its counts afterwards. */
	keepsData: boolean;
	begin(redis: {server: RedisServer; proxy: TcpProxy}): Promise<void>;
	end(redis: {server: RedisServer; proxy: TcpProxy}): Promise<void>;
	/** Whether the apps' clients see the connection close (they do not when the server only freezes). */
	closesConnections: boolean;
};

export const faults: Fault[] = [
	{
		name: 'network cut (proxy down, Redis keeps its data)',
		keepsData: true,
		closesConnections: true,
		async begin({proxy}) {
			await proxy.down();
		},
		async end({proxy}) {
			await proxy.up();
		},
	},
	{
		name: 'kill -9 and restart (Redis comes back empty)',
		keepsData: false,
		closesConnections: true,
		async begin({server}) {
			await server.kill();
		},
		async end({server}) {
			await server.restart();
		},
	},
	{
		name: 'freeze (SIGSTOP, then SIGCONT)',
		keepsData: true,
		closesConnections: false,
		async begin({server}) {
			server.freeze();
		},
		async end({server}) {
			server.thaw();
		},
	},
];

/** One app in a child process of its own (tsx, as an app runs), driven over IPC. */
export async function childLimiter(settings: LimiterSettings): Promise<Limiter> {
	const child: ChildProcess = fork(join(root, '__tests__/fixtures/outage-limiter.ts'), ['--child', JSON.stringify(settings)], {
		execPath: process.execPath,
		execArgv: ['--import', 'tsx'],
		cwd: root,
		stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
	});
	const pending = new Map<number, {resolve(value: unknown): void; reject(error: Error): void}>();
	let nextId = 0;
	await new Promise<void>((resolve, reject) => {
		child.once('error', reject);
		child.once('exit', code => {
			reject(new Error(`limiter child exited with ${code}`));
		});
		child.on('message', (message: {ready?: true; id?: number; result?: unknown; error?: string}) => {
			if (message.ready) {
				resolve();
				return;
			}

			const call = pending.get(message.id!)!;
			pending.delete(message.id!);
			if (message.error === undefined) {
				call.resolve(message.result);
			} else {
				call.reject(new Error(message.error));
			}
		});
	});
	const call = async <T>(method: keyof Limiter, argument?: string) => new Promise<T>((resolve, reject) => {
		const id = nextId++;
		pending.set(id, {resolve: resolve as (value: unknown) => void, reject});
		child.send({id, method, argument});
	});
	return {
		consume: async key => call<Decision>('consume', key),
		clientIs: async state => call('clientIs', state),
		passCooldown: async () => call('passCooldown'),
		async close() {
			const exited = new Promise(resolve => {
				child.once('exit', resolve);
			});
			await call('close');
			await exited;
		},
	};
}

export type Run = {admitted: number; before: Decision[]; during: Decision[]; after: Decision[]; redisCount: number};

/**
The fixed sequence: 10 requests before the fault, 20 during, 40 after, taking turns between the apps. Each app sees
the fault (its client's connection closed, or, for a freeze, its first request run into the store's deadline) before the
requests during it, and is ready again before the ones after — past its cooldown too, after a freeze.
*/
export async function runSequence(
	fault: Fault,
	databaseUrl: string,
	prefix: string,
	apps: 'one process' | 'two processes',
	{client = 'ioredis', inMemoryBlock = true, algorithm}: Pick<LimiterSettings, 'client' | 'inMemoryBlock' | 'algorithm'>
	= {},
): Promise<Run> {
	const redis = await proxiedRedis();
	const {server, proxy} = redis;
	const limiters: Limiter[] = [];
	try {
		const settings: LimiterSettings = {
			redisPort: proxy.port, databaseUrl, prefix, limit, client, inMemoryBlock, algorithm,
		};
		if (apps === 'one process') {
			limiters.push(await createLimiter(settings));
		} else {
			limiters.push(...await Promise.all([childLimiter(settings), childLimiter(settings)]));
		}

		let turn = 0;
		const requests = async (count: number) => {
			const decisions: Decision[] = [];
			for (let index = 0; index < count; index++) {
				// eslint-disable-next-line no-await-in-loop
				decisions.push(await limiters[turn++ % limiters.length]!.consume('login'));
			}

			return decisions;
		};

		const before = await requests(10);
		await fault.begin({server, proxy});
		if (fault.closesConnections) {
			await Promise.all(limiters.map(async limiter => limiter.clientIs('down')));
		}

		const during = await requests(20);
		await fault.end({server, proxy});
		await Promise.all(limiters.map(async limiter => {
			await limiter.clientIs('ready');
			// A lost connection that is back closes the circuit on the next request; a frozen server gave no such sign.
			if (!fault.closesConnections) {
				await limiter.passCooldown();
			}
		}));
		const after = await requests(40);

		const inspect = new Redis({port: server.port, lazyConnect: true});
		// A sliding window's hits in its window; a token bucket's level, in hits (rounded up as it drains).
		const redisCount = algorithm === undefined || algorithm === 'fixed-window'
			? Number(await inspect.get(`${prefix}login`))
			: Math.ceil(Number(await inspect.hget(stateKeyOf(`${prefix}login`, algorithm), 'c')) / (algorithm === 'token-bucket' ? windowMs : 1));
		inspect.disconnect();
		const admitted = [...before, ...during, ...after].filter(decision => decision.allowed).length;
		return {admitted, before, during, after, redisCount};
	} finally {
		await Promise.all(limiters.map(async limiter => limiter.close()));
		await redis.stop();
	}
}
