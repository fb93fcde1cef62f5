import {ConnectionGuardError} from '../../src/index.js';

/** What `promise` rejects with; fails the test when it resolves instead. */
export async function errorOf(promise: Promise<unknown>): Promise<unknown> {
	const outcome = await promise.then(value => ({value}), (error: unknown) => ({error}));
	if (!('error' in outcome)) {
		throw new Error('Expected the promise to reject');
	}

	return outcome.error;
}

/** The ConnectionGuardError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<ConnectionGuardError> {
	const error = await errorOf(promise);
	expect(error).toBeInstanceOf(ConnectionGuardError);
	return error as ConnectionGuardError;
}
