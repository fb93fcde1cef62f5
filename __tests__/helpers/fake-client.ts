import {EventEmitter} from 'node:events';
import {deferred, type Deferred} from './deferred.js';
import {totalListeners} from './listeners.js';

/**
A fake ioredis client that walks ioredis' status machine under the test's control: `connect()` returns a promise that
stays pending until the test calls `succeed()` or `fail()`. Status changes are emitted on the next tick, as ioredis
does.
*/
export class FakeRedis extends EventEmitter {
	status = 'wait';
	manuallyClosing = false;
	connectCalls = 0;
	options = {host: 'fake.test', port: 6379};
	private pending: Deferred<void> | undefined;

	constructor({lazyConnect = true} = {}) {
		super();
		if (!lazyConnect) {
			this.connect().catch(() => undefined);
		}
	}

	async connect(): Promise<void> {
		this.connectCalls++;
		if (this.status === 'connecting' || this.status === 'connect' || this.status === 'ready') {
			throw new Error('Redis is already connecting/connected');
		}

		this.setStatus('connecting');
		this.pending = deferred();
		return this.pending.promise;
	}

	/** The handshake finished: `ready`. */
	succeed(): void {
		this.setStatus('connect');
		this.setStatus('ready');
		this.pending?.resolve();
		this.pending = undefined;
	}

	/** The attempt failed: `error`, `close`, then `reconnecting` (a retry timer) or `end`. */
	fail(error: Error, {retry = false} = {}): void {
		this.emit('error', error);
		this.setStatus('close');
		this.setStatus(retry ? 'reconnecting' : 'end');
		this.pending?.reject(new Error('Connection is closed.'));
		this.pending = undefined;
	}

	/** A ready connection drops (a killed server): `error`, `close`, then `reconnecting`, as ioredis reports it. */
	connectionDropped(error: Error): void {
		this.emit('error', error);
		this.setStatus('close');
		this.setStatus('reconnecting');
	}

	/** ioredis' own retry timer fires: it starts an attempt itself (not through the guard, not counted). */
	retry(): void {
		this.setStatus('connecting');
		this.pending = deferred();
		this.pending.promise.catch(() => undefined);
	}

	/** QUIT sent: status stays `ready` until the socket closes. */
	quit(): Promise<string> {
		this.manuallyClosing = true;
		return Promise.resolve('OK');
	}

	/** The socket finished closing after a quit or disconnect. */
	socketClosed(): void {
		this.manuallyClosing = false;
		this.setStatus('close');
		this.setStatus('end');
	}

	disconnect(): void {
		if (this.status === 'wait' || this.status === 'reconnecting' || this.status === 'end') {
			this.setStatus('end');
			return;
		}

		this.manuallyClosing = true;
		process.nextTick(() => {
			this.socketClosed();
		});
	}

	setStatus(status: string): void {
		this.status = status;
		process.nextTick(() => this.emit(status));
	}

	/** Listeners currently attached, over every event. */
	totalListeners(): number {
		return totalListeners(this);
	}
}

/**
A fake node-redis client (`redis` v5/v6): `isOpen`/`isReady`, one pending `connect()` that retries inside, events
emitted synchronously as node-redis does. The test decides each try's outcome.
*/
export class FakeNodeRedis extends EventEmitter {
	isOpen = false;
	isReady = false;
	connectCalls = 0;
	options = {socket: {host: 'fake-node.test', port: 6380}};
	private pending: Deferred<void> | undefined;

	async connect(): Promise<void> {
		this.connectCalls++;
		if (this.isOpen) {
			throw new Error('Socket already opened');
		}

		this.isOpen = true;
		this.pending = deferred();
		return this.pending.promise;
	}

	succeed(): void {
		this.isReady = true;
		this.emit('connect');
		this.emit('ready');
		this.pending?.resolve();
		this.pending = undefined;
	}

	/** The try failed. With `retry` node-redis waits for its strategy's delay (call `nextTry()`); without, it gives up. */
	failTry(error: Error, {retry = false} = {}): void {
		if (retry) {
			this.emit('error', error);
			return;
		}

		// node-redis 6 order: `terminated(cause)` before `error(cause)`, then connect() rejects.
		this.isOpen = false;
		this.emit('terminated', error);
		this.emit('error', error);
		this.pending?.reject(error);
		this.pending = undefined;
	}

	/** The strategy's delay passed: the next try starts. */
	nextTry(): void {
		this.emit('reconnecting');
	}

	totalListeners(): number {
		return totalListeners(this);
	}
}
