/*
The guard's contract on real servers, written once and run against every client implementation (ioredis 5 and 6 `Redis`,
ioredis `Cluster` on a real 3-master cluster). Each target says how to make a client and how to break its server(s).
*/
import {ConnectionGuardError, guardedRedis, type RedisGuard} from '../../src/index.js';
import {totalListeners} from '../helpers/listeners.js';

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
	on(event: string, listener: (...arguments_: any[]) => void): unknown;
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
	/** The app stops the client itself (ioredis `quit()`, node-redis `close()`); resolves when the client says it is done. */
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
	What a waiter gets while the client retries by itself: ioredis reports each failed try (CONNECT_FAILED); node-redis
	retries inside one pending connect(), so waiters reach their deadline (TIMEOUT, with the last error as cause).
	*/
	whileRetrying: 'CONNECT_FAILED' | 'TIMEOUT';
};

/** Counts the `connect()` calls the guard makes (ioredis' own retry timer calls `connect()` on the instance too). */
function spyOnGuardConnects(client: GuardClient): {readonly count: number} {
	const original = client.connect.bind(client);
	const calls = {count: 0};
	client.connect = async () => {
		if (new Error('probe').stack!.includes('client-adapter')) {
			calls.count++;
		}

		return original();
	};

	return calls;
}

async function rejection(promise: Promise<unknown>): Promise<ConnectionGuardError> {
	try {
		await promise;
	} catch (error) {
		expect(error).toBeInstanceOf(ConnectionGuardError);
		return error as ConnectionGuardError;
	}

	throw new Error('Expected the promise to reject');
}

export function guardContract(target: Target): void {
	describe(`guardedRedis contract: ${target.name}`, () => {
		const clients: GuardClient[] = [];
		const make = (options?: ClientOptions) => {
			const client = target.client(options);
			// Apps attach an error listener; without one ioredis logs every connection error.
			client.on('error', () => undefined);
			clients.push(client);
			return client;
		};

		const guardOf = (client: GuardClient, timeoutMs = 10_000): RedisGuard<GuardClient> => guardedRedis(client, {timeoutMs});

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

		test('a connect() started elsewhere is joined: no second connect(), no "already connecting" error', async () => {
			const client = make();
			const external = client.connect();
			const connect = jest.spyOn(client, 'connect');
			const results = await Promise.all(Array.from({length: 50}, async () => guardOf(client).ensureConnected()));
			await external;
			expect(connect).not.toHaveBeenCalled();
			expect(results.every(result => result === client)).toBe(true);
		});

		test('a client connecting from startup (non-lazy) is waited for, never connected again', async () => {
			const client = make({lazy: false});
			const connect = jest.spyOn(client, 'connect');
			await expect(guardOf(client).ensureConnected()).resolves.toBe(client);
			expect(connect).not.toHaveBeenCalled();
		});

		test('a refused port: every waiter gets one CONNECT_FAILED naming host:port with the cause; the next call tries again', async () => {
			const client = make({refused: true, retry: false});
			const connect = jest.spyOn(client, 'connect');
			const guard = guardOf(client);

			const errors = await Promise.all(Array.from({length: 20}, async () => rejection(guard.ensureConnected())));
			expect(errors[0]!.code).toBe('CONNECT_FAILED');
			expect(errors[0]!.message).toContain(target.address({refused: true}));
			expect(errors[0]!.cause).toHaveProperty('message');
			expect(new Set(errors).size).toBe(1);
			expect(connect).toHaveBeenCalledTimes(1);

			await rejection(guard.ensureConnected());
			expect(connect).toHaveBeenCalledTimes(2);
		});

		test('down at start, up later, without client retries: fails, then the next call connects', async () => {
			await target.kill();
			try {
				const client = make({retry: false});
				const guard = guardOf(client);
				expect((await rejection(guard.ensureConnected())).code).toBe('CONNECT_FAILED');
				await target.restart();
				await expect(guard.ensureConnected()).resolves.toBe(client);
			} finally {
				await target.restart();
			}
		});

		test('down at start, up later, with client retries: every caller is answered by its deadline, then it connects', async () => {
			await target.kill();
			try {
				const client = make({retry: true});
				const guardConnects = spyOnGuardConnects(client);
				const guard = guardOf(client);
				const first = await rejection(guard.ensureConnected({timeoutMs: 1000}));
				expect(first.code).toBe(target.whileRetrying);
				expect(first.cause).toHaveProperty('message');
				if (target.retriesByItself) {
					await target.retrying(client);
				}

				await target.restart();
				// A caller now waits for the client's next try (or makes a fresh attempt); a try that failed before the server
				// came back is reported, so ask until one succeeds.
				let connected = false;
				for (let tries = 0; tries < 50 && !connected; tries++) {
					// eslint-disable-next-line no-await-in-loop
					connected = await guard.ensureConnected().then(() => true, () => false);
				}

				expect(connected).toBe(true);
				if (target.retriesByItself) {
					// The guard never called connect() while the client was retrying.
					expect(guardConnects.count).toBe(1);
				} else {
					expect(guardConnects.count).toBeGreaterThanOrEqual(2);
				}
			} finally {
				await target.restart();
			}
		});

		test('kill -9 and restart: every call ends by its deadline while down, and the client is used again once it is back', async () => {
			const client = make({retry: true});
			const guard = guardOf(client);
			await guard.ensureConnected();
			await target.kill();
			try {
				// A single client drops to `reconnecting` (CONNECT_FAILED or TIMEOUT); a Cluster client may still say `ready`
				// while its nodes retry. Either way the call is answered by its deadline.
				const duringOutage = await guard.ensureConnected({timeoutMs: 500}).then(() => 'ready', (error: ConnectionGuardError) => error.code);
				expect(['ready', 'CONNECT_FAILED', 'TIMEOUT']).toContain(duringOutage);
			} finally {
				await target.restart();
			}

			let worked = false;
			for (let tries = 0; tries < 50 && !worked; tries++) {
				// eslint-disable-next-line no-await-in-loop
				worked = await guard.ensureConnected()
					.then(async () => client.set('contract:after-restart', '1'))
					.then(() => true, () => false);
			}

			expect(worked).toBe(true);
		});

		test('a frozen server (SIGSTOP) gives TIMEOUT by the deadline; after SIGCONT the same attempt succeeds', async () => {
			target.freeze();
			let thawed = false;
			try {
				const client = make();
				const connect = jest.spyOn(client, 'connect');
				const guard = guardOf(client);
				const error = await rejection(guard.ensureConnected({timeoutMs: 300}));
				expect(error.code).toBe('TIMEOUT');
				expect(error.message).toContain('300 ms');

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

		test('an aborted caller rejects at once with ABORTED; other callers still connect', async () => {
			const client = make();
			const guard = guardOf(client);
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
				const guard = guardOf(client);
				const before = totalListeners(client);
				const waiters = Array.from({length: 5000}, async () => guard.ensureConnected());
				expect(totalListeners(client) - before).toBeLessThanOrEqual(10);
				await Promise.all(waiters);
				expect(totalListeners(client)).toBe(totalListeners(control));
				await new Promise(resolve => {
					setImmediate(resolve);
				});
				expect(warnings.filter(warning => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
			} finally {
				process.removeListener('warning', onWarning);
			}
		});

		test('the app closes the client itself (quit/close): the next ensureConnected() reconnects', async () => {
			const client = make();
			const guard = guardOf(client);
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

		test('close() quits the client and resolves once it ended; later calls reject with CLOSED', async () => {
			const client = make();
			const guard = guardOf(client);
			await guard.ensureConnected();
			await guard.close();
			expect(target.ended(client)).toBe(true);
			expect(guard.isReady).toBe(false);
			expect((await rejection(guard.ensureConnected())).code).toBe('CLOSED');
			expect((await rejection(guardOf(client).ensureConnected())).code).toBe('CLOSED');
		});

		test('close() while the client is retrying by itself ends it too', async () => {
			const client = make({refused: true, retry: true});
			const guard = guardOf(client);
			await rejection(guard.ensureConnected({timeoutMs: 300}));
			await guard.close();
			expect(target.ended(client)).toBe(true);
			expect((await rejection(guard.ensureConnected())).code).toBe('CLOSED');
		});
	});
}
