/**
What went wrong, as a stable string to branch on.

- `TIMEOUT`: the caller's `timeoutMs` passed before the client was ready.
- `ABORTED`: the caller's `signal` was aborted; `cause` is `signal.reason`.
- `CONNECT_FAILED`: the connection attempt failed; `cause` is the client's error.
- `CLOSED`: the guard was closed with `guard.close()`; it will not connect again.

@example
```
function isTransient(code: ConnectionGuardErrorCode) {
	return code === 'TIMEOUT' || code === 'CONNECT_FAILED';
}
```
*/
export type ConnectionGuardErrorCode = 'TIMEOUT' | 'ABORTED' | 'CONNECT_FAILED' | 'CLOSED';

/**
The one error type `ensureConnected()` rejects with. Branch on `code`; the underlying error, when there is one, is `cause`.

A new instance is created for every failure (never a shared singleton), so `stack` and `cause` belong to that failure.

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
	override readonly name = 'ConnectionGuardError';
	readonly code: ConnectionGuardErrorCode;

	constructor(code: ConnectionGuardErrorCode, message: string, options?: {cause?: unknown}) {
		super(message, options);
		this.code = code;
	}
}
