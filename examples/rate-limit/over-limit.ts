import type {ClientRateLimitInfo} from 'express-rate-limit';

type OverLimitKey = {
	/** When the key's window ends (ms since the epoch), no later than the store's own window. */
	readonly until: number;
	readonly resetTime: Date;
	totalHits: number;
	/** Hits answered from memory that the store never counted: a `decrement()` takes these back first. */
	unrecorded: number;
};

// What the last `hit()` answered from memory, until `takeAnswerFromMemory()` takes it.
let answeredFromMemory: ClientRateLimitInfo | undefined;

/**
What a `hit()` answered from memory since the last call of this function (then forgotten). A store that wraps another
one (FallbackRateLimitStore) calls it before and right after the synchronous part of its inner store's `increment()`:
an answer found there was given from memory in that very call, so the wrapper hands on the inner store's own promise
with no `then` of its own per refused hit — most hits under abuse (`npm run bench -- --section abuse`, store level).

@example
```
takeAnswerFromMemory();
const answer = store.increment(key);
const fromMemory = takeAnswerFromMemory(); // the answer `answer` resolves to, or undefined
```
*/
export function takeAnswerFromMemory(): ClientRateLimitInfo | undefined {
	const answer = answeredFromMemory;
	answeredFromMemory = undefined;
	return answer;
}

/**
The keys a store said are over their limit, answered from memory until their window ends: a client hammering an endpoint
far past its limit costs no Redis or database call. Only keys the store itself refused are kept, and only until the
window it reported ends, so memory never admits a hit the store would refuse; the refused hits it answers are not
counted in the store (nothing depends on them: the key stays over its limit until that window ends either way).

Per process: another process still asks the store for the key. A `resetKey()` or `decrement()` in another process is
not seen here until the window ends. At most `maxKeys` keys (oldest first out; about 200 bytes each with 15-character
keys).

Hand-written because the decision needs the store's own window end and its pairing with `decrement()`: a cache library
(lru-cache's TTL) would still need both around it.
*/
export class OverLimitKeys {
	private readonly keys = new Map<string, OverLimitKey>();

	constructor(private readonly maxKeys: number) {}

	/** How many keys are kept now (for tests and metrics). */
	get size(): number {
		return this.keys.size;
	}

	/** The answer for `id` from memory, counting the hit; `undefined` unless `id` is over its limit now. */
	hit(id: string, now: number): ClientRateLimitInfo | undefined {
		const known = this.keys.get(id);
		if (known === undefined) {
			return undefined;
		}

		if (known.until <= now) {
			this.keys.delete(id);
			return undefined;
		}

		known.totalHits++;
		known.unrecorded++;
		answeredFromMemory = {totalHits: known.totalHits, resetTime: known.resetTime};
		return answeredFromMemory;
	}

	/** What `id` has in memory now, without a hit; `undefined` unless it is over its limit now. */
	peek(id: string, now: number): ClientRateLimitInfo | undefined {
		const known = this.keys.get(id);
		return known && known.until > now ? {totalHits: known.totalHits, resetTime: known.resetTime} : undefined;
	}

	/**
	The store answered `totalHits` for `id`, in a window that ends at `until` at the latest: keep the key when that is
	over `limit`.
	*/
	note(id: string, totalHits: number, limit: number, until: number, resetTime: Date): void {
		if (totalHits <= limit || this.maxKeys === 0) {
			return;
		}

		if (this.keys.size >= this.maxKeys && !this.keys.has(id)) {
			this.keys.delete(this.keys.keys().next().value!);
		}

		this.keys.set(id, {until, resetTime, totalHits, unrecorded: 0});
	}

	/**
	A `decrement()` for `id`: `true` when it took back a hit answered from memory (nothing to tell the store). Otherwise
	the store counts the decrement, and may then be under the limit again: the key goes, and the store decides.
	*/
	takeBack(id: string): boolean {
		const known = this.keys.get(id);
		if (known !== undefined && known.unrecorded > 0) {
			known.unrecorded--;
			known.totalHits--;
			return true;
		}

		this.keys.delete(id);
		return false;
	}

	forget(id: string): void {
		this.keys.delete(id);
	}

	clear(): void {
		this.keys.clear();
	}
}
