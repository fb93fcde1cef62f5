/*
Argument checks shared by every export. Bad arguments are programming errors: a TypeError or RangeError that names the
argument in backticks, as sindresorhus's packages do. Each check allocates nothing unless the argument is bad, because
`ensureConnected()` runs them on its hot path.
*/

/** The deadline of `ensureConnected()` and `close()` when the guard is given none, in ms. */
export const defaultTimeoutMs = 5000;

export const describeValue = (value: unknown): string =>
	value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;

/** An object or a function: something that can have properties. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
	(typeof value === 'object' || typeof value === 'function') && value !== null;

/** A TypeError when `value` is not a plain options object (`undefined` is fine: no options). */
export function invalidOptionsObject(value: unknown): TypeError | undefined {
	if (value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value))) {
		return undefined;
	}

	return new TypeError(`Expected \`options\` to be an object, got \`${describeValue(value)}\``);
}

/** A TypeError/RangeError unless `value` is `undefined` or a non-negative number of milliseconds (or `Infinity`). */
export function invalidMilliseconds(value: unknown, name: string): TypeError | RangeError | undefined {
	if (value === undefined) {
		return undefined;
	}

	if (typeof value !== 'number') {
		return new TypeError(`Expected \`${name}\` to be a number, got \`${describeValue(value)}\``);
	}

	if (Number.isNaN(value) || value < 0) {
		return new RangeError(`Expected \`${name}\` to be a non-negative number of milliseconds or \`Infinity\`, got \`${value}\``);
	}

	return undefined;
}

export function invalidBoolean(value: unknown, name: string): TypeError | undefined {
	return value === undefined || typeof value === 'boolean'
		? undefined
		: new TypeError(`Expected \`${name}\` to be a boolean, got \`${describeValue(value)}\``);
}

export function invalidFunction(value: unknown, name: string): TypeError | undefined {
	return value === undefined || typeof value === 'function'
		? undefined
		: new TypeError(`Expected \`${name}\` to be a function, got \`${describeValue(value)}\``);
}

const isAbortSignal = (value: unknown): value is AbortSignal => isObject(value) && typeof value.aborted === 'boolean'
	&& typeof value.addEventListener === 'function' && typeof value.removeEventListener === 'function';

export function invalidSignal(value: unknown): TypeError | undefined {
	return value === undefined || isAbortSignal(value)
		? undefined
		: new TypeError(`Expected \`signal\` to be an AbortSignal, got \`${describeValue(value)}\``);
}
