import {setImmediate as nextMacrotask} from 'node:timers/promises';

/** Resolves once `condition()` holds, checking after each turn of the event loop (at most `timeoutMs`, 10 s). */
export async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) {
			throw new Error(`Condition not met within ${timeoutMs} ms`);
		}

		// eslint-disable-next-line no-await-in-loop
		await nextMacrotask();
	}
}
