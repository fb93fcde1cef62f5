type Entry = {
	readonly at: number;
	readonly reject: (error: Error) => void;
	/** Set by the caller once the operation's request is on the wire (see `rejectSent`). */
	sent: boolean;
	previous: Entry | undefined;
	next: Entry | undefined;
};

/**
Deadlines for many concurrent operations with one timer. A `setTimeout` plus `Promise.race` per operation, or even a
`Set` of pending operations, costs a noticeable share of a Redis round trip at high concurrency (measured in bench/);
here an operation costs one small object linked into a list and unlinked when it settles, and one interval sweeps
overdue ones from the head (an operation ends within one sweep step — a twentieth of `timeoutMs`, at most 50 ms — of
its deadline). Every entry has the same `timeoutMs`, so the list is in deadline order. Hand-written because no small
library does deadline sweeping for promises.
*/
export class DeadlineSweeper {
	private head: Entry | undefined;
	private tail: Entry | undefined;
	private timer: NodeJS.Timeout | undefined;
	private readonly stepMs: number;
	// A coarse clock, read at each sweep: deadlines need no finer grain than the sweep step, and reading the clock per
	// operation is measurable on the hot path.
	private clock = 0;

	constructor(
		private readonly timeoutMs: number,
		private readonly error: () => Error,
		private readonly lostError: () => Error = error,
	) {
		this.stepMs = Math.max(5, Math.min(50, timeoutMs / 20));
	}

	/** Watch an operation; `reject` is called once if it is still running at its deadline. */
	add(reject: (error: Error) => void): Entry {
		const now = this.timer ? this.clock : (this.clock = performance.now());
		const entry: Entry = {at: now + this.timeoutMs, reject, sent: false, previous: this.tail, next: undefined};
		if (this.tail) {
			this.tail.next = entry;
		} else {
			this.head = entry;
		}

		this.tail = entry;
		// The sweep only runs while something is in flight; unref: pending work keeps the process alive, not this timer.
		this.timer ??= setInterval(() => {
			this.sweep();
		}, this.stepMs).unref();
		return entry;
	}

	/** `true` until the operation settles or its deadline passes. */
	watching(entry: Entry): boolean {
		return entry === this.head || entry.previous !== undefined;
	}

	/** The operation settled: stop watching it. */
	delete(entry: Entry): void {
		if (entry.previous) {
			entry.previous.next = entry.next;
		} else if (this.head === entry) {
			this.head = entry.next;
		} else {
			return; // Already removed (swept).
		}

		if (entry.next) {
			entry.next.previous = entry.previous;
		} else {
			this.tail = entry.previous;
		}

		entry.previous = undefined;
		entry.next = undefined;
		if (!this.head) {
			this.stop();
		}
	}

	/**
	Reject now every watched operation marked `sent`: the connection they went out on is gone, so no answer is coming
	before the deadline. Operations still waiting for a connection keep their deadline.
	*/
	rejectSent(): void {
		for (let entry = this.head; entry;) {
			const {next} = entry;
			if (entry.sent) {
				this.delete(entry);
				entry.reject(this.lostError());
			}

			entry = next;
		}
	}

	/** How many operations are being watched (for tests). */
	get size(): number {
		let count = 0;
		for (let entry = this.head; entry; entry = entry.next) {
			count++;
		}

		return count;
	}

	private sweep(): void {
		const now = performance.now();
		this.clock = now;
		while (this.head && this.head.at <= now) {
			const entry = this.head;
			this.delete(entry);
			entry.reject(this.error());
		}

		if (!this.head) {
			this.stop();
		}
	}

	private stop(): void {
		clearInterval(this.timer);
		this.timer = undefined;
	}
}
