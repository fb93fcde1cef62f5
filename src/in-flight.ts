/*
The commands `guard.run()` has sent on one client and not seen answered: each is rejected at its deadline (`TIMEOUT`),
or at once when the connection it went out on closes (`CONNECTION_LOST`). A timer and a listener per command would cost
a measurable share of a round trip on a ready client (bench/), so there is one timer and at most one listener per
client, and a command costs one small object linked into a list and unlinked when it settles. Written here because no
small library sweeps deadlines for promises.

One list per distinct `timeoutMs` (most apps use one or two): every command of a list has the same timeout, so each list
is in deadline order and the earliest deadline of all is one of the heads. The timer is armed for that deadline and
left armed when commands settle before it (re-arming per command is what this avoids); when it fires with nothing in
flight, the listener goes too.
*/
import type {ClientAdapter} from './client-adapter.js';
import {closedError, connectionLostError, replyTimeoutError} from './errors.js';
import {maxTimerMs} from './options.js';

// How long the connection listener stays after the last command with no deadline settled.
const idleMs = 1000;

type FlightList = {readonly timeoutMs: number; head: Flight | undefined; tail: Flight | undefined};

/** One command in flight: a class, so that every entry has one shape and the list code stays monomorphic. */
class Flight {
	previous: Flight | undefined = undefined;
	next: Flight | undefined = undefined;

	constructor(
		readonly at: number,
		readonly list: FlightList,
		readonly resolve: (value: any) => void,
		readonly reject: (error: Error) => void,
	) {}
}

// The executor of every command's promise: it hands the promise's own resolve and reject to `send()` through these two
// slots, so no closure is made per command for it (Promise.withResolvers needs Node 22).
let nextResolve: ((value: any) => void) | undefined;
let nextReject: ((error: Error) => void) | undefined;
const capture = (resolve: (value: any) => void, reject: (error: Error) => void): void => {
	nextResolve = resolve;
	nextReject = reject;
};

export class InFlight {
	readonly #lists = new Map<number, FlightList>();
	// The list of the last command: most apps use one timeout, so this spares a Map lookup per command.
	#lastList: FlightList | undefined;
	#count = 0;
	#timer: NodeJS.Timeout | undefined;
	#timerAt = Number.POSITIVE_INFINITY;
	#stopWatching: (() => void) | undefined;
	#closed = false;
	/** For the dead-connection rule (dead-connection.ts): replies seen, late ones too; a call per deadline passed. */
	settled = 0;
	onDeadline: ((startedAt: number) => void) | undefined;

	constructor(private readonly adapter: ClientAdapter) {}

	/**
	`fn(client)`, rejected with `TIMEOUT` when `timeoutMs` from `startedAt` passes first and `CONNECTION_LOST` when the
	connection closes first. Its own error passes through, unless the client says it means a lost connection (a cluster
	node's drop, node-redis's flush of the commands a dropped socket sent).
	*/
	send<C, T>(
		fn: (client: C) => T | PromiseLike<T>, client: C, timeoutMs: number, startedAt = performance.now(),
	): Promise<T> {
		let reply: T | PromiseLike<T>;
		try {
			reply = fn(client);
		} catch (error) {
			// Sent nothing: no entry to take back.
			return Promise.reject(error as Error);
		}

		// One promise of the guard's own per command (the caller's, settled at the deadline or on a lost connection when
		// the reply is late) and one reaction on fn's: the least that lets a frozen server's command end on time.
		const promise = new Promise<T>(capture);
		const resolve = nextResolve!;
		const reject = nextReject!;
		// Not kept past this call: they would hold the last caller's promise, and with it its reply, until the next one.
		nextResolve = undefined;
		nextReject = undefined;
		let flight: Flight;
		try {
			flight = this.#add(timeoutMs, startedAt, resolve, reject);
		} catch (error) {
			// A client whose `on()` throws: the caller gets it as a rejection, as from any other step of run(), and fn's own
			// outcome is dropped (never an unhandled rejection).
			reject(error as Error);
			Promise.resolve(reply).then(undefined, () => undefined);
			return promise;
		}

		// After a deadline or a lost connection the caller has its answer: the late outcome is dropped here.
		Promise.resolve(reply).then(value => {
			this.settled++;
			if (this.#remove(flight)) {
				flight.resolve(value);
			}
		}, (error: unknown) => {
			this.settled++;
			if (this.#remove(flight)) {
				flight.reject(this.adapter.isConnectionLost(error)
					? connectionLostError(this.adapter.describe(), error)
					: error as Error);
			}
		});
		return promise;
	}

	/** `guard.close()` was called: commands its closing connection leaves unanswered get `CLOSED`. */
	close(): void {
		this.#closed = true;
	}

	#add(
		timeoutMs: number, startedAt: number, resolve: (value: any) => void, reject: (error: Error) => void,
	): Flight {
		let list = this.#lastList;
		if (list?.timeoutMs !== timeoutMs) {
			list = this.#lists.get(timeoutMs);
			if (!list) {
				list = {timeoutMs, head: undefined, tail: undefined};
				this.#lists.set(timeoutMs, list);
			}

			this.#lastList = list;
		}

		const at = timeoutMs > maxTimerMs ? Number.POSITIVE_INFINITY : startedAt + timeoutMs;
		// In deadline order: a command that first waited for a connection may be due before the last ones sent.
		let previous = list.tail;
		while (previous && previous.at > at) {
			previous = previous.previous;
		}

		const next = previous ? previous.next : list.head;
		const flight = new Flight(at, list, resolve, reject);
		flight.previous = previous;
		flight.next = next;
		if (previous) {
			previous.next = flight;
		} else {
			list.head = flight;
		}

		if (next) {
			next.previous = flight;
		} else {
			list.tail = flight;
		}

		this.#count++;
		this.#stopWatching ??= this.adapter.onConnectionLost(this.#onConnectionLost);
		if (at < this.#timerAt) {
			this.#arm(at);
		}

		return flight;
	}

	/** Unlink `flight`; `false` when it had already left (rejected at its deadline or on a lost connection). */
	#remove(flight: Flight): boolean {
		const {list} = flight;
		if (flight.previous) {
			flight.previous.next = flight.next;
		} else if (list.head === flight) {
			list.head = flight.next;
		} else {
			return false;
		}

		if (flight.next) {
			flight.next.previous = flight.previous;
		} else {
			list.tail = flight.previous;
		}

		flight.previous = undefined;
		flight.next = undefined;
		this.#count--;
		if (this.#count === 0 && this.#timerAt === Number.POSITIVE_INFINITY) {
			// Only commands without a deadline were in flight: no timer will come to take the listener away.
			this.#arm(performance.now() + idleMs);
		}

		return true;
	}

	#arm(at: number): void {
		clearTimeout(this.#timer);
		this.#timerAt = at;
		this.#timer = setTimeout(this.#onTimer, Math.max(0, at - performance.now()));
		// Unref'd: a command in flight keeps the process alive through its socket, not through this timer. (Deno's global
		// setTimeout hands back a number, with no unref.)
		(this.#timer as {unref?: () => unknown}).unref?.();
	}

	readonly #onTimer = (): void => {
		const now = performance.now();
		let next = Number.POSITIVE_INFINITY;
		// When each command that reached its deadline was sent, for the dead-connection rule: judged after the timer is
		// re-armed below, so that nothing the rule does (dropping a socket) can leave the sweep half done.
		const timedOutStarts: number[] | undefined = this.onDeadline ? [] : undefined;
		for (const list of this.#lists.values()) {
			while (list.head && list.head.at <= now) {
				const flight = list.head;
				this.#remove(flight);
				flight.reject(replyTimeoutError(this.adapter.describe(), list.timeoutMs));
				timedOutStarts?.push(flight.at - list.timeoutMs);
			}

			if (list.head && list.head.at < next) {
				next = list.head.at;
			}
		}

		// Only now: while it sweeps, the timer still counts as armed (#remove leaves it alone).
		this.#timer = undefined;
		this.#timerAt = Number.POSITIVE_INFINITY;
		if (next !== Number.POSITIVE_INFINITY) {
			this.#arm(next);
		} else if (this.#count === 0) {
			this.#stopWatching?.();
			this.#stopWatching = undefined;
		}

		for (const startedAt of timedOutStarts ?? []) {
			this.onDeadline?.(startedAt);
		}
	};

	readonly #onConnectionLost = (cause: unknown): void => {
		const server = this.adapter.describe();
		const error = this.#closed ? closedError(server) : connectionLostError(server, cause);
		for (const list of this.#lists.values()) {
			while (list.head) {
				const flight = list.head;
				this.#remove(flight);
				flight.reject(error);
			}
		}
	};
}
