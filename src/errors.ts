/**
What went wrong, as a stable string to branch on.

- `TIMEOUT`: the caller's `timeoutMs` passed before the client was ready, or (`run()`) before the reply came; `cause` is
  the client's last error, if any.
- `ABORTED`: the caller's `signal` was aborted; `cause` is `signal.reason`.
- `CONNECT_FAILED`: the client is failing (its try failed, or it is between tries), or failed in a way retrying cannot
  fix (a wrong password, a rejected certificate); `cause` is the client's error.
- `CONNECTION_LOST`: (`run()`) the connection the command was sent on closed before the reply came; `cause` is the
  client's error, if it gave one.
- `CLOSED`: the guard was closed with `guard.close()`; it will not connect again.
- `DEAD_CONNECTION`: never a rejection of its own: the `cause` of the `CONNECT_FAILED` that fail-fast callers get while
  the guard replaces a connection it found dead (it received nothing for `deadConnectionMs` while commands waited),
  and on ioredis of the `CONNECTION_LOST` of the commands that were waiting on it.

@example
```
// Redis is down or slow: answer without it. (ABORTED: the caller went away; CLOSED: the app is shutting down.)
function answerWithoutRedis(code: ConnectionGuardErrorCode) {
	return code === 'TIMEOUT' || code === 'CONNECT_FAILED' || code === 'CONNECTION_LOST';
}
```
*/
export type ConnectionGuardErrorCode =
	'TIMEOUT' | 'ABORTED' | 'CONNECT_FAILED' | 'CONNECTION_LOST' | 'CLOSED' | 'DEAD_CONNECTION';

// A registry-wide symbol, so that an error made by another copy of this package (its CommonJS build, or a second
// install) still passes `instanceof ConnectionGuardError` here: each copy has its own class, but they all stamp this
// brand.
const brand = Symbol.for('connection-guard.ConnectionGuardError');

/**
The one error type `ensureConnected()` and `run()` reject with (`run()` also passes `fn`'s own errors through). Branch
on `code`; the underlying error, when there is one, is `cause`.

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

export const replyTimeoutError = (server: string, timeoutMs: number): ConnectionGuardError =>
	new ConnectionGuardError('TIMEOUT', `Redis at ${server} did not answer within ${timeoutMs} ms`);

export const connectionLostError = (server: string, cause: unknown): ConnectionGuardError =>
	new ConnectionGuardError(
		'CONNECTION_LOST',
		`The connection to Redis at ${server} closed before it answered: ${messageOf(cause)}`,
		{cause},
	);

export const abortedError = (signal: AbortSignal): ConnectionGuardError =>
	new ConnectionGuardError('ABORTED', 'Waiting for Redis was aborted', {cause: signal.reason});

export const closedError = (server: string): ConnectionGuardError =>
	new ConnectionGuardError('CLOSED', `The connection guard for Redis at ${server} was closed`);

export const deadConnectionError = (server: string, silentMs: number, deadConnectionMs: number): ConnectionGuardError =>
	new ConnectionGuardError(
		'DEAD_CONNECTION',
		`The connection to Redis at ${server} received nothing for ${Math.round(silentMs)} ms while commands waited (deadConnectionMs: ${deadConnectionMs}): dropped to reconnect`,
	);
