/*
The guard's contract on real servers, written once and run against every client implementation (ioredis 5 and 6 `Redis`
and `Cluster`, node-redis 5 and 6 clients, node-redis 6 clusters) in both modes: fail fast (the default) and
`waitForReady`. Each target says how to make a client and how to break its server(s).
*/
import {setImmediate as nextMacrotask, setTimeout as pause} from 'node:timers/promises';
import {ConnectionGuardError, guardedRedis, type RedisGuard} from '../../src/index.js';
import {totalListeners} from '../helpers/listeners.js';
import {errorOf, rejection} from '../helpers/rejection.js';
import {until} from '../helpers/until.js';

export type ClientOptions = {
	/** Lazy (default) or connecting from the constructor. */
	lazy?: boolean;
	/** Let the client retry by itself after a failure (the client's default), or give up at once. */
	retry?: boolean;
	/** Point the client at a port where nothing listens. */
	refused?: boolean;
};

export type GuardClient = {
	connect(): Promise<unknown>;
	set(key: string, value: string): Promise<unknown>;
	get(key: string): Promise<string | null>;
	incr(key: string): Promise<number>;
	on(event: string, listener: (...arguments_: any[]) => void): unknown;
	once(event: string, listener: (...arguments_: any[]) => void): unknown;
	listenerCount(event: string | symbol): number;
	eventNames(): Array<string | symbol>;
};

export type Target = {
	name: string;
	/** Start the server(s); called once per suite. */
	start(): Promise<void>;
	stop(): Promise<void>;
	client(options?: ClientOptions): GuardClient;
	/** What error messages should name for a client of this target. */
	address(options?: ClientOptions): string;
	/** SIGKILL every server process, then `restart()` brings them back on the same ports. */
	kill(): Promise<void>;
	restart(): Promise<void>;
	freeze(): void;
	thaw(): void;
	/** Drop a client after a test. */
	dispose(client: GuardClient): void;
	/** The app stops the client itself (ioredis `quit()`, node-redis `close()`); resolves when the client is done. */
	appClose(client: GuardClient): Promise<unknown>;
	/** The client has ended (ioredis status `end`; node-redis neither open nor ready). */
	ended(client: GuardClient): boolean;
	/** Resolves once the client is retrying by itself after a failure. */
	retrying(client: GuardClient): Promise<void>;
	/**
	Whether the client retries by itself after a failed first connect (ioredis, node-redis createClient) — the guard then
	never calls connect() again — or needs a fresh connect() per attempt (node-redis createCluster).
	*/
	retriesByItself: boolean;
	/**
	What the cause of a refused connection says. ECONNREFUSED, except for ioredis Cluster, which swallows its nodes' socket
	errors and reports "Failed to refresh slots cache." (measured on ioredis 5.11 and 6.0).
	*/
	refusedCause?: RegExp;
};

export const modes = [
	{name: 'fail fast', waitForReady: false},
	{name: 'waitForReady', waitForReady: true},
] as const;

/** How late past its deadline a call may settle on a busy 2-core machine. */
const lateness = 300;
/**
How early a deadline may look when measured with performance.now(): Node arms timers against the event loop's cached
clock, which is behind by however long the current turn has run (starting a herd of callers takes a few ms).
*/
const earliness = 25;

/** Counts the `connect()` calls the guard makes (ioredis' own retry timer calls `connect()` on the instance too). */
function spyOnGuardConnects(client: GuardClient): {readonly count: number} {
	const original = client.connect.bind(client);
	const calls = {count: 0};
	client.connect = async () => {
		if (new Error('probe').stack!.includes('client-state')) {
			calls.count++;
		}

		return original();
	};

	return calls;
}

/** `count` concurrent calls, each timed. */
async function timedHerd<T>(count: number, call: () => Promise<T>) {
	return Promise.all(Array.from({length: count}, async () => timed(call)));
}

/** Settles like the call, with how long it took from before the call. */
async function timed<T>(call: () => Promise<T>): Promise<{ms: number; value?: T; error?: ConnectionGuardError}> {
	const started = performance.now();
	return call().then(
		value => ({ms: performance.now() - started, value}),
		(error: unknown) => ({ms: performance.now() - started, error: error as ConnectionGuardError}),
	);
}

/**
The contract for `target`. `failureCases: false` leaves out the cases that read how a refused or absent server is
reported (its cause, the client's own retry events) and how the app's own close() shows in the client's state at once:
they cannot hold for a client that reports failures without an error and closes asynchronously (node-redis's sentinel
client); the README says what differs.
*/
export function guardContract(target: Target, {failureCases = true} = {}): void {
	describe(`guardedRedis contract: ${target.name}`, () => {
		const refusedCause = target.refusedCause ?? /ECONNREFUSED/;
		const clients: GuardClient[] = [];
		const make = (options?: ClientOptions) => {
			const client = target.client(options);
			// Apps attach an error listener; without one ioredis logs every connection error.
			client.on('error', () => undefined);
			clients.push(client);
			return client;
		};

		const ready = async (client: GuardClient) => new Promise(resolve => {
			client.once('ready', resolve);
		});

		beforeAll(async () => {
			await target.start();
		});

		afterEach(() => {
			for (const client of clients.splice(0)) {
				target.dispose(client);
			}
		});

		afterAll(async () => {
			await target.stop();
		});

		describe.each(modes)('$name', ({waitForReady}) => {
			const guardOf = (client: GuardClient, timeoutMs = 10_000): RedisGuard<GuardClient> =>
				guardedRedis(client, {timeoutMs, waitForReady});

			test('a herd of 1,000 callers on a lazy client makes one connect(); all get the client; commands work', async () => {
				const client = make();
				const connect = jest.spyOn(client, 'connect');
				const guard = guardOf(client);

				const results = await Promise.all(Array.from({length: 1000}, async () => guard.ensureConnected()));
				expect(connect).toHaveBeenCalledTimes(1);
				expect(results.every(result => result === client)).toBe(true);
				expect(guard.isReady).toBe(true);
				await client.set('contract:herd', 'ok');
				await expect(client.get('contract:herd')).resolves.toBe('ok');
			});

			test('a frozen server (SIGSTOP) gives TIMEOUT by the deadline; after SIGCONT the same attempt succeeds', async () => {
				target.freeze();
				let thawed = false;
				try {
					const client = make();
					const connect = jest.spyOn(client, 'connect');
					const guard = guardOf(client);
					const {ms, error} = await timed(async () => guard.ensureConnected({timeoutMs: 300}));
					expect(error?.code).toBe('TIMEOUT');
					expect(error?.message).toContain('300 ms');
					expect(ms).toBeGreaterThanOrEqual(300 - earliness);
					expect(ms).toBeLessThanOrEqual(300 + lateness);

					const waiting = guard.ensureConnected({timeoutMs: 20_000});
					target.thaw();
					thawed = true;
					await expect(waiting).resolves.toBe(client);
					expect(connect).toHaveBeenCalledTimes(1);
				} finally {
					if (!thawed) {
						target.thaw();
					}
				}
			});

			test('kill -9 and restart under a request loop: every call is answered by its deadline, then the client is used again', async () => {
				const client = make({retry: true});
				// The loop's deadline: in waitForReady mode each call during the outage takes all of it, and the loop waits for
				// five of them (500 ms made that 2.5 s a target, times every target and runtime). The first connect has its own.
				const deadline = 200;
				const guard = guardOf(client, deadline);
				await guard.ensureConnected({timeoutMs: 10_000});
				const outcomes: Array<{ms: number; code: string}> = [];
				let stop = false;
				// A request loop: each request waits for the guard, then pauses a millisecond (as real I/O would). Bounded by
				// time, not by count: unpaced on a ready client it made thousands of fast-path calls a millisecond, and its
				// count (5,000) ran out before the outage it is there to see had begun, while kill -9 waited for 5 processes.
				const giveUpAt = performance.now() + 60_000;
				const loop = (async () => {
					while (!stop && performance.now() < giveUpAt) {
						// eslint-disable-next-line no-await-in-loop
						const {ms, error} = await timed(async () => guard.ensureConnected());
						outcomes.push({ms, code: error?.code ?? 'ready'});
						if (error && error.code !== 'TIMEOUT') {
							expect(error.cause).toHaveProperty('message');
						}

						// eslint-disable-next-line no-await-in-loop
						await pause(1);
					}
				})();

				await target.kill();
				try {
					// A single client drops to reconnecting; a Cluster client may still say `ready` while its nodes retry.
					// Either way, the loop makes some requests while the server is down.
					const beforeOutage = outcomes.length;
					await until(() => outcomes.length >= beforeOutage + 5);
				} finally {
					await target.restart();
				}

				await expect(guard.ensureConnected({waitForReady: true, timeoutMs: 20_000})).resolves.toBe(client);
				stop = true;
				await loop;

				expect(outcomes.length).toBeGreaterThan(0);
				for (const {ms, code} of outcomes) {
					expect(ms).toBeLessThanOrEqual(deadline + lateness);
					// A wait-for-ready caller is never told of a single failed try.
					expect(waitForReady ? ['ready', 'TIMEOUT'] : ['ready', 'CONNECT_FAILED', 'TIMEOUT']).toContain(code);
				}

				let worked = false;
				for (let tries = 0; tries < 50 && !worked; tries++) {
					// A Cluster client may need a moment to route to every restarted node.
					// eslint-disable-next-line no-await-in-loop
					worked = await guard.ensureConnected({waitForReady: true, timeoutMs: 5000})
						.then(async () => client.set('contract:after-restart', '1'))
						.then(() => true, () => false);
				}

				expect(worked).toBe(true);
			});
		});

		if (failureCases) {
			describe('fail fast (the default)', () => {
				const guardOf = (client: GuardClient, timeoutMs = 10_000) => guardedRedis(client, {timeoutMs});

				test('a refused port without client retries: every waiter gets one CONNECT_FAILED naming host:port and ECONNREFUSED; the next call tries again', async () => {
					const client = make({refused: true, retry: false});
					const connect = jest.spyOn(client, 'connect');
					const guard = guardOf(client);

					const errors = await Promise.all(Array.from({length: 20}, async () => rejection(guard.ensureConnected())));
					expect(errors[0]!.code).toBe('CONNECT_FAILED');
					expect(errors[0]!.message).toContain(target.address({refused: true}));
					expect(errors[0]!.message).toMatch(refusedCause);
					expect((errors[0]!.cause as Error).message).toMatch(refusedCause);
					expect(new Set(errors).size).toBe(1);
					expect(connect).toHaveBeenCalledTimes(1);

					// Once the client has given up (until then it is failing, and a call fails fast), the next call tries again.
					await until(() => target.ended(client));
					await rejection(guard.ensureConnected());
					expect(connect).toHaveBeenCalledTimes(2);
				});

				test('a refused port with client retries: CONNECT_FAILED long before the deadline, with ECONNREFUSED; between tries at once', async () => {
					const client = make({refused: true, retry: true});
					const guardConnects = spyOnGuardConnects(client);
					const guard = guardOf(client, 3000);

					const first = await timed(async () => guard.ensureConnected());
					expect(first.error?.code).toBe('CONNECT_FAILED');
					expect((first.error?.cause as Error).message).toMatch(refusedCause);
					expect(first.ms).toBeLessThan(1000);

					const second = await timed(async () => guard.ensureConnected());
					expect(second.error?.code).toBe('CONNECT_FAILED');
					expect((second.error?.cause as Error).message).toMatch(refusedCause);
					expect(second.ms).toBeLessThan(1000);
					if (target.retriesByItself) {
						expect(guardConnects.count).toBe(1);
					}
				});

				test('down at start, up later, without client retries: fails, then the next call connects', async () => {
					await target.kill();
					try {
						const client = make({retry: false});
						const guard = guardOf(client);
						const error = await rejection(guard.ensureConnected());
						expect(error.code).toBe('CONNECT_FAILED');
						expect((error.cause as Error).message).toMatch(refusedCause);
						await target.restart();
						await expect(guard.ensureConnected()).resolves.toBe(client);
					} finally {
						await target.restart();
					}
				});

				test('down at start, up later, with client retries: fails fast, then ready once the client\'s own retry connects', async () => {
					await target.kill();
					try {
						const client = make({retry: true});
						const guardConnects = spyOnGuardConnects(client);
						const guard = guardOf(client);
						const error = await rejection(guard.ensureConnected());
						expect(error.code).toBe('CONNECT_FAILED');
						expect((error.cause as Error).message).toMatch(refusedCause);
						if (target.retriesByItself) {
							await target.retrying(client);
							const readyAgain = ready(client);
							await target.restart();
							await readyAgain;
							expect(guard.isReady).toBe(true);
							await expect(guard.ensureConnected()).resolves.toBe(client);
							// The guard never called connect() while the client was retrying.
							expect(guardConnects.count).toBe(1);
						} else {
							await target.restart();
							await expect(guard.ensureConnected()).resolves.toBe(client);
							expect(guardConnects.count).toBe(2);
						}
					} finally {
						await target.restart();
					}
				});
			});

			describe('waitForReady', () => {
				const guardOf = (client: GuardClient, timeoutMs = 10_000) => guardedRedis(client, {timeoutMs, waitForReady: true});

				test('a refused port with client retries: TIMEOUT at the deadline naming ECONNREFUSED; the guard adds no connect()', async () => {
					const client = make({refused: true, retry: true});
					const guardConnects = spyOnGuardConnects(client);
					const guard = guardOf(client);

					const results = await timedHerd(20, async () => guard.ensureConnected({timeoutMs: 1000}));
					for (const {ms, error} of results) {
						expect(error?.code).toBe('TIMEOUT');
						expect(error?.message).toMatch(refusedCause);
						expect((error?.cause as Error).message).toMatch(refusedCause);
						expect(ms).toBeGreaterThanOrEqual(1000 - earliness);
						expect(ms).toBeLessThanOrEqual(1000 + lateness);
					}

					if (target.retriesByItself) {
						expect(guardConnects.count).toBe(1);
					} else {
						expect(guardConnects.count).toBeLessThanOrEqual(6);
					}
				});

				test('a refused port without client retries: the guard retries with its backoff, a bounded number of connect()', async () => {
					const client = make({refused: true, retry: false});
					const guardConnects = spyOnGuardConnects(client);
					const guard = guardOf(client);

					const results = await timedHerd(20, async () => guard.ensureConnected({timeoutMs: 1000}));
					for (const {ms, error} of results) {
						expect(error?.code).toBe('TIMEOUT');
						expect((error?.cause as Error).message).toMatch(refusedCause);
						expect(ms).toBeLessThanOrEqual(1000 + lateness);
					}

					// Tries at about 0, 50, 150, 350 and 750 ms: one connect() each, for all 20 callers.
					expect(guardConnects.count).toBeGreaterThanOrEqual(3);
					expect(guardConnects.count).toBeLessThanOrEqual(6);
				});

				test.each([false, true])('down at start, up later (client retries: %p): waits through the outage and resolves', async retry => {
					await target.kill();
					try {
						const client = make({retry});
						const guardConnects = spyOnGuardConnects(client);
						const guard = guardOf(client, 20_000);
						const waiting = Array.from({length: 50}, async () => guard.ensureConnected());
						if (retry && target.retriesByItself) {
							await target.retrying(client);
						} else {
							// The guard retries by itself: the server comes back only once it has retried at least once.
							await until(() => guardConnects.count >= 2);
						}

						await target.restart();
						const results = await Promise.all(waiting);
						expect(results.every(result => result === client)).toBe(true);
						if (retry && target.retriesByItself) {
							expect(guardConnects.count).toBe(1);
						} else {
							expect(guardConnects.count).toBeGreaterThanOrEqual(2);
						}

						await client.set('contract:after-outage', '1');
					} finally {
						await target.restart();
					}
				});
			});
		}

		test('a connect() started elsewhere is joined: no second connect(), no "already connecting" error', async () => {
			const client = make();
			const external = client.connect();
			const connect = jest.spyOn(client, 'connect');
			const results = await Promise.all(Array.from({length: 50}, async () => guardedRedis(client).ensureConnected()));
			await external;
			expect(connect).not.toHaveBeenCalled();
			expect(results.every(result => result === client)).toBe(true);
		});

		test('a client connecting from startup (non-lazy) is waited for, never connected again', async () => {
			const client = make({lazy: false});
			const connect = jest.spyOn(client, 'connect');
			await expect(guardedRedis(client).ensureConnected()).resolves.toBe(client);
			expect(connect).not.toHaveBeenCalled();
		});

		test('an aborted caller rejects at once with ABORTED; other callers still connect', async () => {
			const client = make();
			const guard = guardedRedis(client);
			const controller = new AbortController();
			const aborted = guard.ensureConnected({signal: controller.signal});
			const other = guard.ensureConnected();
			controller.abort(new Error('client went away'));
			const error = await rejection(aborted);
			expect(error.code).toBe('ABORTED');
			expect((error.cause as Error).message).toBe('client went away');
			await expect(other).resolves.toBe(client);
		});

		test('5,000 waiters add a handful of listeners, all removed afterwards; no MaxListenersExceededWarning', async () => {
			const warnings: Error[] = [];
			const onWarning = (warning: Error) => warnings.push(warning);
			process.on('warning', onWarning);
			try {
				// A client connected without the guard: what the client library itself leaves attached.
				const control = make();
				await control.connect();

				const client = make();
				const guard = guardedRedis(client);
				const before = totalListeners(client);
				const waiters = Array.from({length: 5000}, async (_, index) =>
					guard.ensureConnected({waitForReady: index % 2 === 0}));
				expect(totalListeners(client) - before).toBeLessThanOrEqual(10);
				await Promise.all(waiters);
				expect(totalListeners(client)).toBe(totalListeners(control));
				await nextMacrotask();
				expect(warnings.filter(warning => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
			} finally {
				process.removeListener('warning', onWarning);
			}
		});

		if (failureCases) {
			test('the app closes the client itself (quit/close): the next ensureConnected() reconnects', async () => {
				const client = make();
				const guard = guardedRedis(client);
				await guard.ensureConnected();
				const connect = jest.spyOn(client, 'connect');
				const closing = target.appClose(client);
				// Right after QUIT (socket not closed yet) the guard does not report ready.
				expect(guard.isReady).toBe(false);
				const reconnected = guard.ensureConnected();
				await closing;
				await expect(reconnected).resolves.toBe(client);
				expect(connect).toHaveBeenCalledTimes(1);
				expect(guard.isReady).toBe(true);
				await client.set('contract:after-quit', '1');
			});
		}

		describe('run(fn): a command under the same deadline', () => {
			test('a herd on a lazy client: one connect(), every fn runs on the ready client; fn\'s own reply error passes through unchanged', async () => {
				const client = make();
				const connect = jest.spyOn(client, 'connect');
				const guard = guardedRedis(client, {timeoutMs: 10_000});
				const counts = await Promise.all(Array.from({length: 200}, async () => guard.run(async redis => redis.incr('contract:run:herd'))));
				expect(connect).toHaveBeenCalledTimes(1);
				expect(Math.max(...counts)).toBe(200);

				await guard.run(async redis => redis.set('contract:run:text', 'not a number'));
				const error = await errorOf(guard.run(async redis => redis.incr('contract:run:text')));
				expect(error).not.toBeInstanceOf(ConnectionGuardError);
				expect(String(error)).toContain('ERR value is not an integer');
			});

			test('a frozen server (SIGSTOP) with the command in flight: TIMEOUT by the deadline; after SIGCONT run() works again', async () => {
				const client = make({retry: true});
				const guard = guardedRedis(client, {timeoutMs: 10_000});
				await guard.run(async redis => redis.set('contract:run:frozen', '1'));
				target.freeze();
				try {
					const {ms, error} = await timed(async () => guard.run(async redis => redis.get('contract:run:frozen'), {timeoutMs: 300}));
					expect(error?.code).toBe('TIMEOUT');
					expect(error?.message).toContain('did not answer within 300 ms');
					expect(ms).toBeGreaterThanOrEqual(300 - earliness);
					expect(ms).toBeLessThanOrEqual(300 + lateness);
				} finally {
					target.thaw();
				}

				await expect(guard.run(async redis => redis.get('contract:run:frozen'), {timeoutMs: 5000})).resolves.toBe('1');
			});

			if (failureCases) {
				test('kill -9 with the command in flight: CONNECTION_LOST at once, long before the deadline; after a restart run() works again', async () => {
					const client = make({retry: true});
					const guard = guardedRedis(client, {timeoutMs: 20_000});
					await guard.run(async redis => redis.set('contract:run:killed', '1'));
					// Frozen, so that the command is sure to be in flight (sent, unanswered) when the server dies.
					target.freeze();
					const pending = timed(async () => guard.run(async redis => redis.get('contract:run:killed')));
					await pause(50);
					const killedAt = performance.now();
					await target.kill();
					try {
						const {error} = await pending;
						expect(error?.code).toBe('CONNECTION_LOST');
						expect(error?.cause).toHaveProperty('message');
						expect(performance.now() - killedAt).toBeLessThan(2000);
					} finally {
						await target.restart();
					}

					let worked = false;
					for (let tries = 0; tries < 50 && !worked; tries++) {
						// A Cluster client may need a moment to route to every restarted node.
						// eslint-disable-next-line no-await-in-loop
						worked = await guard.run(async redis => redis.set('contract:run:restarted', '1'), {waitForReady: true, timeoutMs: 5000})
							.then(() => true, () => false);
					}

					expect(worked).toBe(true);
				});
			} else {
				// node-redis's sentinel client resends a command its dropped master had, until its sentinels give up (18 s
				// with this topology), and says nothing meanwhile: the deadline bounds it.
				test('kill -9 with the command in flight: settled by the deadline at the latest', async () => {
					const client = make({retry: true});
					const guard = guardedRedis(client, {timeoutMs: 2000});
					await guard.run(async redis => redis.set('contract:run:killed', '1'));
					target.freeze();
					const pending = timed(async () => guard.run(async redis => redis.get('contract:run:killed')));
					await pause(50);
					await target.kill();
					try {
						const {ms} = await pending;
						expect(ms).toBeLessThanOrEqual(2000 + lateness);
					} finally {
						await target.restart();
					}
				});
			}
		});

		test('close() quits the client and resolves once it ended; later calls reject with CLOSED', async () => {
			const client = make();
			const guard = guardedRedis(client);
			await guard.ensureConnected();
			await guard.close();
			expect(target.ended(client)).toBe(true);
			expect(guard.isReady).toBe(false);
			expect((await rejection(guard.ensureConnected())).code).toBe('CLOSED');
			expect((await rejection(guardedRedis(client).ensureConnected({waitForReady: true}))).code).toBe('CLOSED');
		});

		test('close() while the client is retrying by itself ends it too, and rejects its wait-for-ready callers with CLOSED', async () => {
			const client = make({refused: true, retry: true});
			const guard = guardedRedis(client);
			await rejection(guard.ensureConnected({timeoutMs: 300}));
			const patient = rejection(guard.ensureConnected({waitForReady: true, timeoutMs: 10_000}));
			await guard.close();
			expect((await patient).code).toBe('CLOSED');
			expect(target.ended(client)).toBe(true);
			expect((await rejection(guard.ensureConnected())).code).toBe('CLOSED');
		});
	});
}
