/*
The one state of one client, shared by every guard of it and by every copy of this package in the process. It watches
the client through its adapter and answers every waiting `ensureConnected()` call from what it sees.

Level-triggered: every event of the client, every settled `connect()` and every new waiter runs `#step()`, which reads
the client's phase now rather than trusting which event woke it (ioredis emits status events a tick late, so an event
may be an echo of an earlier try), and hands it to the one handler for that phase.

Not built on `singleFlight`: an attempt outlives its waiters (a frozen server keeps the attempt's trace open after every
caller timed out), waiters of the two modes leave an attempt differently (fail fast on its failure, or wait for the next
try), and `close()` ends it from outside.
*/
import {Backoff} from './backoff.js';
import type {ClientAdapter, Phase} from './client-adapter.js';
import {
	abortedError, closedError, connectFailedError, connectionClosed, timeoutError, type ConnectionGuardError,
} from './errors.js';
import {defaultTimeoutMs, maxTimerMs} from './options.js';
import {isPermanentFailure} from './permanent-failures.js';
import {
	endConnectTrace, startConnectTrace, type ConnectTraceContext, type EnsureConnectedTraceContext,
} from './tracing.js';

/**
What every copy of the package relies on: guards from another copy call these members, so they only ever grow (the
registry's key carries the version of this shape).
*/
export type SharedClientState = {
	readonly client: unknown;
	/** The one promise the ready fast path hands out: no allocation per call on a ready client. */
	readonly readyPromise: Promise<unknown>;
	describe(): string;
	isReady(): boolean;
	/** `trace` (newer than 0.1.0: older copies never pass it) gets the attempts the call joins in its `attempts`. */
	wait(
		timeoutMs: number, signal: AbortSignal | undefined, waitForReady: boolean, trace?: EnsureConnectedTraceContext,
	): Promise<unknown>;
	close(timeoutMs: number): Promise<void>;
};

type Waiter = {
	readonly waitForReady: boolean;
	/** The call's `connection-guard:ensureConnected` trace, when it is traced: it lists the attempts the call joins. */
	readonly trace: EnsureConnectedTraceContext | undefined;
	/** Resolve (no error) or reject the caller; the waiter leaves the state. Later calls do nothing. */
	settle(error?: ConnectionGuardError): void;
};

/** One try of the client that the waiters present share: started by the guard's `connect()`, or the client's own. */
type Attempt = {
	/**
	The guard called `connect()` and the client shows no sign of it yet (still idle, the promise unsettled). Some clients
	leave their phase alone until the promise settles; others never settle it after a late failure (an ioredis Cluster
	that closes after its `connect` status), so once the phase has moved, the phase decides.
	*/
	awaitingConnect: boolean;
	/** The client's error during this try, when it reported one. */
	error: unknown;
	/** The trace's context, when the connect channel had subscribers as the attempt started. */
	readonly trace: ConnectTraceContext | undefined;
};

export class ClientState implements SharedClientState {
	readonly readyPromise: Promise<unknown>;
	readonly #waiters = new Set<Waiter>();
	#attempt: Attempt | undefined;
	readonly #backoff = new Backoff();
	#closing: Promise<void> | undefined;
	#unsubscribe: (() => void) | undefined;
	// Errors, from the widest to the narrowest: the client's last one since it was ready (the `cause` of timeouts, and of
	// failures when the try itself reported none; `Attempt#error` holds the try's own), and the one failure handed to
	// every fail-fast caller between two tries, until the next try starts.
	#lastError: unknown;
	#failureBetweenTries: ConnectionGuardError | undefined;
	// A failure retrying cannot fix (a wrong password, a rejected certificate): every caller gets it at once, in both
	// modes, until the client is ready.
	#permanentFailure: ConnectionGuardError | undefined;
	// The dead-connection rule dropped the client's connection (`connectionDead`): fail-fast callers get `failure`
	// until a new connection is ready. `dropped` once the client showed it let the old one go (so `ready` is the new).
	#deadConnection: {readonly failure: ConnectionGuardError; dropped: boolean} | undefined;

	constructor(readonly client: unknown, readonly adapter: ClientAdapter) {
		this.readyPromise = Promise.resolve(client);
	}

	describe() {
		return this.adapter.describe();
	}

	isReady() {
		return this.#closing === undefined && this.#deadConnection === undefined && this.adapter.isReady();
	}

	/**
	The dead-connection rule found the client's connection dead (`cause`, code `DEAD_CONNECTION`) and dropped it: until a
	new one is ready, fail-fast callers get `CONNECT_FAILED` at once with that cause; wait-for-ready ones wait for it.
	*/
	connectionDead(cause: ConnectionGuardError): void {
		if (this.#closing !== undefined) {
			return;
		}

		this.#deadConnection = {failure: connectFailedError(this.describe(), cause), dropped: false};
		this.#unsubscribe ??= this.adapter.subscribe(this.#step, this.#onError);
		this.#step();
	}

	wait(
		timeoutMs: number, signal: AbortSignal | undefined, waitForReady: boolean, trace?: EnsureConnectedTraceContext,
	): Promise<unknown> {
		if (this.#closing !== undefined) {
			return Promise.reject(closedError(this.describe()));
		}

		if (signal?.aborted) {
			return Promise.reject(abortedError(signal));
		}

		return new Promise((resolve, reject) => {
			let timer: NodeJS.Timeout | undefined;
			const onAbort = () => {
				waiter.settle(abortedError(signal!));
			};

			const waiter: Waiter = {
				waitForReady,
				trace,
				settle: error => {
					if (!this.#waiters.delete(waiter)) {
						return;
					}

					clearTimeout(timer);
					signal?.removeEventListener('abort', onAbort);
					if (error) {
						reject(error);
					} else {
						resolve(this.client);
					}

					this.#onWaiterLeft();
				},
			};

			this.#waiters.add(waiter);
			if (this.#attempt?.trace) {
				this.#attempt.trace.waiters++;
				trace?.attempts.push(this.#attempt.trace);
			}

			if (timeoutMs <= maxTimerMs) {
				timer = setTimeout(() => {
					waiter.settle(timeoutError(this.describe(), timeoutMs, this.#lastError));
				}, timeoutMs);
			}

			signal?.addEventListener('abort', onAbort, {once: true});
			this.#unsubscribe ??= this.adapter.subscribe(this.#step, this.#onError);
			this.#step();
		});
	}

	close(timeoutMs: number): Promise<void> {
		this.#closing ??= this.#closeClient(timeoutMs);
		return this.#closing;
	}

	async #closeClient(timeoutMs: number): Promise<void> {
		const error = closedError(this.describe());
		this.#backoff.cancel();
		this.#endAttempt(error);
		for (const waiter of [...this.#waiters]) {
			waiter.settle(error);
		}

		this.#unsubscribe?.();
		this.#unsubscribe = undefined;
		// A deadline keeps close() bounded even against a frozen server; `Infinity` still gets a finite grace period.
		await this.adapter.close(Number.isFinite(timeoutMs) ? Math.min(timeoutMs, maxTimerMs) : defaultTimeoutMs);
	}

	// The client reported an error: keep it as the cause of what the waiters get.
	readonly #onError = (error: unknown) => {
		this.#lastError = error;
		if (this.#attempt) {
			this.#attempt.error = error;
		}

		this.#checkPermanent(error);
	};

	#checkPermanent(error: unknown) {
		if (this.#permanentFailure === undefined && isPermanentFailure(error)) {
			this.#permanentFailure = connectFailedError(this.describe(), error);
		}
	}

	// Something may have changed (a client event, a settled connect(), a new waiter, the backoff's delay): act on the
	// phase the client is in now.
	readonly #step = () => {
		if (this.#closing !== undefined) {
			return;
		}

		const phase = this.adapter.phase();
		if (this.#deadConnection && this.#stillDead(phase)) {
			return;
		}

		if (this.#permanentFailure !== undefined && phase !== 'ready') {
			for (const waiter of [...this.#waiters]) {
				waiter.settle(this.#permanentFailure);
			}
		}

		if (phase === 'ready') {
			this.#onReady();
		} else if (phase === 'connecting') {
			this.#onTryUnderWay();
		} else {
			this.#onNotConnecting(phase);
		}
	};

	// A dropped dead connection: `true` while it is being replaced (fail-fast waiters rejected, the rest wait). Over
	// once a new connection is ready, or the client ended (nothing reconnects by itself: the usual rules connect it).
	#stillDead(phase: Phase): boolean {
		const dead = this.#deadConnection!;
		if (phase !== 'ready') {
			dead.dropped = true;
		}

		if (dead.dropped && (phase === 'ready' || phase === 'idle')) {
			this.#deadConnection = undefined;
			return false;
		}

		this.#rejectFailFast(dead.failure);
		if (phase === 'ready') {
			// The old socket, not closed yet: nobody is told it is ready.
			return true;
		}

		return false;
	}

	#onReady() {
		this.#lastError = undefined;
		this.#failureBetweenTries = undefined;
		this.#permanentFailure = undefined;
		this.#backoff.reset();
		this.#endAttempt();
		for (const waiter of [...this.#waiters]) {
			waiter.settle();
		}

		this.#unsubscribeWhenSettled();
	}

	// A try is under way, the guard's or the client's own: everyone waits for it.
	#onTryUnderWay() {
		this.#failureBetweenTries = undefined;
		this.#backoff.cancel();
		if (this.#attempt) {
			this.#attempt.awaitingConnect = false;
		} else if (this.#waiters.size > 0) {
			this.#startAttempt(false);
		}
	}

	// Idle, between two tries, or closing: a try that was under way has ended without becoming ready.
	#onNotConnecting(phase: Exclude<Phase, 'ready' | 'connecting'>) {
		const attempt = this.#attempt;
		if (attempt && !(phase === 'idle' && attempt.awaitingConnect)) {
			this.#onTryFailed(attempt);
		}

		// Unless the guard's connect() was called and has not answered yet (the client's phase has not caught up).
		if (!this.#attempt) {
			if (phase === 'retrying') {
				this.#onBetweenTries();
			} else if (phase === 'idle') {
				this.#onIdle();
			}
			// `closing` (QUIT sent, socket still open): wait for its end, then connect.
		}

		this.#unsubscribeWhenSettled();
	}

	#onTryFailed(attempt: Attempt) {
		const failure = connectFailedError(this.describe(), attempt.error ?? this.#lastError ?? connectionClosed());
		this.#failureBetweenTries = failure;
		this.#endAttempt(failure);
		this.#rejectFailFast(failure);
		// Should the client not retry by itself (it ends up idle), the guard's next try waits for the backoff.
		this.#backoff.due = this.#waitsForReady();
	}

	// Between two tries (the client's, or the guard's own): fail fast now; wait-for-ready callers wait for the next.
	#onBetweenTries() {
		if (this.#waiters.size > 0) {
			this.#failureBetweenTries ??= connectFailedError(this.describe(), this.#lastError ?? connectionClosed());
			this.#rejectFailFast(this.#failureBetweenTries);
		}
	}

	// Nothing is connecting and nothing will by itself: the guard connects, for all waiters at once.
	#onIdle() {
		if (this.#waiters.size === 0) {
			return;
		}

		if (this.#backoff.due) {
			this.#backoff.start(this.#step);
		}

		if (this.#backoff.pending) {
			this.#onBetweenTries();
		} else {
			this.#connect();
		}
	}

	#connect() {
		const attempt = this.#startAttempt(true);
		let connecting: unknown;
		try {
			connecting = this.adapter.connect();
		} catch (error) {
			this.#onConnectSettled(attempt, error);
			return;
		}

		attempt.awaitingConnect = this.adapter.phase() === 'idle';
		Promise.resolve(connecting).then(() => {
			this.#onConnectSettled(attempt);
		}, (error: unknown) => {
			this.#onConnectSettled(attempt, error ?? connectionClosed());
		});
	}

	#onConnectSettled(attempt: Attempt, error?: unknown) {
		attempt.awaitingConnect = false;
		if (error !== undefined && !this.adapter.isAlreadyConnecting(error)) {
			// A client's own error event, when it had one, says more than the rejection ("Connection is closed.").
			attempt.error ??= error;
			this.#lastError ??= error;
			this.#checkPermanent(error);
		}

		this.#step();
	}

	#startAttempt(calledConnect: boolean): Attempt {
		const trace = startConnectTrace(() => this.describe(), calledConnect, this.#waiters.size);
		if (trace) {
			for (const waiter of this.#waiters) {
				waiter.trace?.attempts.push(trace);
			}
		}

		const attempt: Attempt = {awaitingConnect: calledConnect, error: undefined, trace};
		this.#attempt = attempt;
		return attempt;
	}

	#endAttempt(error?: ConnectionGuardError) {
		const trace = this.#attempt?.trace;
		this.#attempt = undefined;
		if (trace) {
			endConnectTrace(trace, error);
		}
	}

	#rejectFailFast(error: ConnectionGuardError) {
		for (const waiter of [...this.#waiters]) {
			if (!waiter.waitForReady) {
				waiter.settle(error);
			}
		}
	}

	#waitsForReady() {
		for (const waiter of this.#waiters) {
			if (waiter.waitForReady) {
				return true;
			}
		}

		return false;
	}

	#onWaiterLeft() {
		if ((this.#backoff.pending || this.#backoff.due) && !this.#waitsForReady()) {
			// The guard retries only for someone: the last wait-for-ready caller is gone.
			this.#backoff.reset();
		}

		this.#unsubscribeWhenSettled();
	}

	/**
	Listeners stay while anyone waits, while an attempt runs or the guard's own retry is pending, and while the client is
	failing on its own (connecting, or between its tries): that is how a caller arriving between two tries gets the
	client's real last error at once, and how node-redis's tries are told from its waits. They go once the client is ready
	or idle with nobody waiting, or the guard is closed.
	*/
	#unsubscribeWhenSettled() {
		if (this.#unsubscribe && this.#waiters.size === 0 && !this.#attempt && !this.#backoff.pending
			&& !this.#deadConnection) {
			const phase = this.adapter.phase();
			if (phase === 'ready' || phase === 'idle') {
				this.#unsubscribe();
				this.#unsubscribe = undefined;
				// Unwatched, the client may go through tries the guard never sees: what it knew would go stale.
				this.#failureBetweenTries = undefined;
				this.#permanentFailure = undefined;
				this.#lastError = undefined;
			}
		}
	}
}
