/*
The one state of one client, shared by every guard of it and by every copy of this package in the process. It watches
the client through its adapter and answers every waiting `ensureConnected()` call from what it sees.

This state machine is hand-written rather than built on `singleFlight`: an attempt must outlive its waiters (a frozen
server keeps the attempt's trace open after every caller timed out), waiters of the two modes leave an attempt
differently (fail fast on its failure, or wait for the next try), and `close()` must end it from outside.

Level-triggered: every event of the client, every settled `connect()` and every new waiter runs `#step()`, which reads
the client's phase now rather than trusting which event woke it (ioredis emits status events a tick late, so an event
may be an echo of an earlier try).
*/
import type {ClientAdapter} from './client-adapter.js';
import type {SharedClientState} from './registry.js';
import {
	abortedError, closedError, connectFailedError, connectionClosed, timeoutError, type ConnectionGuardError,
} from './errors.js';
import {
	endConnectTrace, startConnectTrace, type ConnectTraceContext, type EnsureConnectedTraceContext,
} from './tracing.js';

// `setTimeout` fires after 1 ms for longer delays (with a TimeoutOverflowWarning); anything longer waits without a
// timer.
const maxTimerMs = 2_147_483_647;

/**
The guard's own backoff between the `connect()` calls it makes for `waitForReady` callers when the client will not retry
by itself: 50 ms, doubling, at most 1 s. Documented in the README.
*/
const firstRetryDelayMs = 50;
const maxRetryDelayMs = 1000;

// Each client rejects a second `connect()` with its own message; the guard only ever meets these when a connect was
// started elsewhere in the same tick, and then waits for it. They are never shown to a caller.
const alreadyConnecting = /already connecting\/connected|Socket already opened|already open/i;
const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);

type Waiter = {
	readonly waitForReady: boolean;
	/** The call's `connection-guard:ensureConnected` trace, when it is traced: it lists the attempts the call joins. */
	readonly trace: EnsureConnectedTraceContext | undefined;
	/** Resolve (no error) or reject the caller; the waiter leaves the state. Later calls do nothing. */
	settle(error?: ConnectionGuardError): void;
};

/** One try of the client that the waiters present share: started by the guard's `connect()`, or the client's own. */
type Attempt = {
	readonly calledConnect: boolean;
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
	/** The client's last reported error since it was last ready: the `cause` of failures and timeouts. */
	#lastError: unknown;
	#closing: Promise<void> | undefined;
	#attempt: Attempt | undefined;
	/** The error of the last failed try, handed to fail-fast callers until the next try starts. */
	#failure: ConnectionGuardError | undefined;
	readonly #waiters = new Set<Waiter>();
	#unsubscribe: (() => void) | undefined;
	#retryTimer: NodeJS.Timeout | undefined;
	/** A try failed while wait-for-ready callers waited: once the client is idle, the guard retries after a delay. */
	#backoffDue = false;
	#retryDelayMs = firstRetryDelayMs;

	constructor(readonly client: unknown, readonly adapter: ClientAdapter) {
		this.readyPromise = Promise.resolve(client);
	}

	describe() {
		return this.adapter.describe();
	}

	isReady() {
		return this.#closing === undefined && this.adapter.isReady();
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
		this.#clearRetry();
		this.#endAttempt(error);
		for (const waiter of [...this.#waiters]) {
			waiter.settle(error);
		}

		this.#unsubscribe?.();
		this.#unsubscribe = undefined;
		// A deadline keeps close() bounded even against a frozen server; `Infinity` still gets a finite grace period.
		await this.adapter.close(Number.isFinite(timeoutMs) ? Math.min(timeoutMs, maxTimerMs) : 5000);
	}

	readonly #onError = (error: unknown) => {
		this.#lastError = error;
		if (this.#attempt) {
			this.#attempt.error = error;
		}
	};

	readonly #step = () => {
		if (this.#closing !== undefined) {
			return;
		}

		const phase = this.adapter.phase();
		if (phase === 'ready') {
			this.#lastError = undefined;
			this.#failure = undefined;
			this.#retryDelayMs = firstRetryDelayMs;
			this.#clearRetry();
			this.#endAttempt();
			for (const waiter of [...this.#waiters]) {
				waiter.settle();
			}

			this.#unsubscribeWhenSettled();
			return;
		}

		if (phase === 'connecting') {
			// A try is under way, the guard's or the client's own: everyone waits for it.
			this.#failure = undefined;
			this.#clearRetry();
			if (this.#attempt) {
				this.#attempt.awaitingConnect = false;
			} else if (this.#waiters.size > 0) {
				this.#startAttempt(false);
			}

			return;
		}

		const attempt = this.#attempt;
		if (attempt && !(phase === 'idle' && attempt.awaitingConnect)) {
			// The try ended without becoming ready (or is between tries, for a client that retries by itself).
			this.#failure = connectFailedError(this.describe(), attempt.error ?? this.#lastError ?? connectionClosed());
			this.#endAttempt(this.#failure);
			this.#rejectFailFast(this.#failure);
			// Should the client not retry by itself (it ends up idle), the guard's next try waits for the backoff.
			this.#backoffDue = this.#waitsForReady();
		}

		if (this.#attempt) {
			// Our connect() was called and has not answered yet; the client's phase has not caught up.
			return;
		}

		if (phase === 'idle' && this.#backoffDue && this.#waiters.size > 0) {
			// The client will not retry by itself: the guard does, one try at a time for all waiters, with a backoff.
			this.#backoffDue = false;
			this.#retryTimer = setTimeout(this.#retry, this.#retryDelayMs);
			this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, maxRetryDelayMs);
		}

		if (phase === 'retrying' || (phase === 'idle' && this.#retryTimer !== undefined)) {
			// Between two tries (the client's, or the guard's own): fail fast now, wait-for-ready callers wait for the next.
			if (this.#waiters.size > 0) {
				this.#failure ??= connectFailedError(this.describe(), this.#lastError ?? connectionClosed());
				this.#rejectFailFast(this.#failure);
			}
		} else if (phase === 'idle' && this.#waiters.size > 0) {
			this.#connect();
		}

		// `closing` (QUIT sent, socket still open): wait for its end, then connect.
		this.#unsubscribeWhenSettled();
	};

	readonly #retry = () => {
		this.#retryTimer = undefined;
		this.#step();
	};

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
		if (error !== undefined && !alreadyConnecting.test(messageOf(error))) {
			// A client's own error event, when it had one, says more than the rejection ("Connection is closed.").
			attempt.error ??= error;
			this.#lastError ??= error;
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

		const attempt: Attempt = {calledConnect, awaitingConnect: calledConnect, error: undefined, trace};
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

	#clearRetry() {
		clearTimeout(this.#retryTimer);
		this.#retryTimer = undefined;
		this.#backoffDue = false;
	}

	#onWaiterLeft() {
		if ((this.#retryTimer !== undefined || this.#backoffDue) && !this.#waitsForReady()) {
			// The guard retries only for someone: the last wait-for-ready caller is gone.
			this.#clearRetry();
			this.#retryDelayMs = firstRetryDelayMs;
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
		if (this.#unsubscribe && this.#waiters.size === 0 && !this.#attempt && this.#retryTimer === undefined) {
			const phase = this.adapter.phase();
			if (phase === 'ready' || phase === 'idle') {
				this.#unsubscribe();
				this.#unsubscribe = undefined;
				// Unwatched, the client may go through tries the guard never sees: what it knew would go stale.
				this.#failure = undefined;
				this.#lastError = undefined;
			}
		}
	}
}
