export type Deferred<T> = {
	promise: Promise<T>;
	resolve(value: T): void;
	reject(reason: unknown): void;
};

/** A promise the test settles by hand, to hold a race open for as long as it needs. */
export function deferred<T = void>(): Deferred<T> {
	let resolve!: (value: T) => void;
	let reject!: (reason: unknown) => void;
	const promise = new Promise<T>((resolve_, reject_) => {
		resolve = resolve_;
		reject = reject_;
	});
	return {promise, resolve, reject};
}

/** Let every queued microtask and nextTick callback run. */
export async function flush(): Promise<void> {
	for (let index = 0; index < 5; index++) {
		// eslint-disable-next-line no-await-in-loop
		await new Promise(resolve => {
			setImmediate(resolve);
		});
	}
}

/** Settle state of a promise without waiting for it. */
export async function settledState(promise: Promise<unknown>): Promise<'pending' | 'fulfilled' | 'rejected'> {
	const marker = Symbol('pending');
	try {
		const value = await Promise.race([promise, Promise.resolve(marker)]);
		return value === marker ? 'pending' : 'fulfilled';
	} catch {
		return 'rejected';
	}
}
