/**
What went wrong, as a stable string to branch on.

- `TIMEOUT`: the caller's `timeoutMs` passed before the client was ready; `cause` is the client's last error, if any.
- `ABORTED`: the caller's `signal` was aborted; `cause` is `signal.reason`.
- `CONNECT_FAILED`: the client is failing (its try failed, or it is between tries); `cause` is the client's error.
- `CLOSED`: the guard was closed with `guard.close()`; it will not connect again.

@example
```
function isTransient(code: ConnectionGuardErrorCode) {
	return code === 'TIMEOUT' || code === 'CONNECT_FAILED';
}
```
*/
export type ConnectionGuardErrorCode = 'TIMEOUT' | 'ABORTED' | 'CONNECT_FAILED' | 'CLOSED';

// A registry-wide symbol, so that an error made by another copy of this package (its CommonJS build, or a second
// install) still passes `instanceof ConnectionGuardError` here: each copy has its own class, but they all stamp this
// brand.
const brand = Symbol.for('connection-guard.ConnectionGuardError');

/**
The one error type `ensureConnected()` rejects with. Branch on `code`; the underlying error, when there is one, is
`cause`.

A new instance is created for every failure (never a shared singleton), so `stack` and `cause` belong to that failure.
`instanceof` holds for errors from any copy of the package in the process (the ESM and CommonJS builds, duplicated
installs): it checks a `Symbol.for` brand, not the class identity.

@example
```
import {ConnectionGuardError} from 'connection-guard';

try {
	await guard.ensureConnected({timeoutMs: 500});
} catch (error) {
	if (error instanceof ConnectionGuardError && error.code === 'CONNECT_FAILED') {
		console.warn('Redis is down:', error.cause);
	}

	throw error;
}
```
*/
export class ConnectionGuardError extends Error {
	static override [Symbol.hasInstance](value: unknown): boolean {
		return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
	}

	override readonly name = 'ConnectionGuardError';
	readonly code: ConnectionGuardErrorCode;

	constructor(code: ConnectionGuardErrorCode, message: string, options?: {cause?: unknown}) {
		super(message, options);
		this.code = code;
		Object.defineProperty(this, brand, {value: true});
	}
}

export const messageOf = (error: unknown): string => error instanceof Error ? error.message : String(error);

/** The `cause` when a connection ended and the client said nothing about why. */
export const connectionClosed = (): Error => new Error('Connection is closed.');

export const connectFailedError = (server: string, cause: unknown): ConnectionGuardError =>
	new ConnectionGuardError('CONNECT_FAILED', `Could not connect to Redis at ${server}: ${messageOf(cause)}`, {cause});

export const timeoutError = (server: string, timeoutMs: number, lastError: unknown): ConnectionGuardError =>
	new ConnectionGuardError(
		'TIMEOUT',
		`Redis at ${server} was not ready within ${timeoutMs} ms${lastError === undefined ? '' : ` (last error: ${messageOf(lastError)})`}`,
		lastError === undefined ? undefined : {cause: lastError},
	);

export const abortedError = (signal: AbortSignal): ConnectionGuardError =>
	new ConnectionGuardError('ABORTED', 'Waiting for Redis was aborted', {cause: signal.reason});

export const closedError = (server: string): ConnectionGuardError =>
	new ConnectionGuardError('CLOSED', `The connection guard for Redis at ${server} was closed`);
