import {ConnectionGuardError} from '../../src/index.js';

/** The ConnectionGuardError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<ConnectionGuardError> {
	const outcome = await promise.then(value => ({value}), (error: unknown) => ({error}));
	if (!('error' in outcome)) {
		throw new Error('Expected the promise to reject');
	}

	expect(outcome.error).toBeInstanceOf(ConnectionGuardError);
	return outcome.error as ConnectionGuardError;
}
