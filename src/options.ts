/*
Argument checks shared by every export. Bad arguments are programming errors: a TypeError or RangeError that names the
argument in backticks, as sindresorhus's packages do. Each check allocates nothing unless the argument is bad, because
`ensureConnected()` and `run()` run them on their hot path.
*/
import {closestMatch} from 'leven';

/** The deadline of `ensureConnected()`, `run()` and `close()` when the guard is given none, in ms. */
export const defaultTimeoutMs = 5000;

/** `setTimeout` fires after 1 ms for longer delays (and warns): longer deadlines wait without a timer. */
export const maxTimerMs = 2_147_483_647;

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

/**
A TypeError naming the first option `options` has that is not one of `known` (a misspelt option would otherwise be
ignored silently, and its default used), with the closest known name when one is near.
*/
export function unknownOption(options: object, known: readonly string[]): TypeError | undefined {
	for (const name in options) {
		if (!known.includes(name)) {
			const closest = closestMatch(name.toLowerCase(), known.map(option => option.toLowerCase()), {maxDistance: 3});
			const hint = closest === undefined
				? `the options are ${known.map(option => `\`${option}\``).join(', ')}`
				: `did you mean \`${known.find(option => option.toLowerCase() === closest)!}\`?`;
			return new TypeError(`Unknown option \`${name}\`: ${hint}`);
		}
	}

	return undefined;
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

/**
A TypeError/RangeError unless `value` is `undefined`, `false` (off) or a positive number of milliseconds (`Infinity`
is off too): for the dead-connection rule's `deadConnectionMs` and `heartbeatMs`, where 0 would mean "at once, always".
*/
export function invalidOptionalMilliseconds(value: unknown, name: string): TypeError | RangeError | undefined {
	if (value === undefined || value === false) {
		return undefined;
	}

	if (typeof value !== 'number') {
		return new TypeError(`Expected \`${name}\` to be a number of milliseconds or \`false\`, got \`${describeValue(value)}\``);
	}

	if (Number.isNaN(value) || value <= 0) {
		return new RangeError(`Expected \`${name}\` to be a positive number of milliseconds, \`Infinity\` or \`false\`, got \`${value}\``);
	}

	return undefined;
}
