import {singleFlight} from '../../src/index.js';
import {deferred} from '../helpers/deferred.js';

describe('singleFlight', () => {
	test('concurrent calls share the same promise and run `fn` once', async () => {
		const gate = deferred<string>();
		const fn = jest.fn(async () => gate.promise);
		const shared = singleFlight(fn);

		const p1 = shared();
		const p2 = shared();
		expect(p1).toBe(p2);
		expect(fn).toHaveBeenCalledTimes(1);

		gate.resolve('done');
		await expect(p1).resolves.toBe('done');
	});

	test('after the promise fulfils, the next call runs `fn` again', async () => {
		let calls = 0;
		const shared = singleFlight(async () => ++calls);

		const first = shared();
		await expect(first).resolves.toBe(1);
		const second = shared();
		expect(second).not.toBe(first);
		await expect(second).resolves.toBe(2);
	});

	test('after the promise rejects, the next call runs `fn` again: no cached rejection', async () => {
		const fn = jest.fn()
			.mockRejectedValueOnce(new Error('down'))
			.mockResolvedValueOnce('up');
		const shared = singleFlight(fn);

		const [a, b] = [shared(), shared()];
		expect(a).toBe(b);
		await expect(a).rejects.toThrow('down');
		await expect(shared()).resolves.toBe('up');
		expect(fn).toHaveBeenCalledTimes(2);
	});

	test('a synchronous throw becomes the shared rejection; calling never throws', async () => {
		const error = new Error('sync');
		const shared = singleFlight(() => {
			throw error;
		});

		let p1: Promise<unknown> | undefined;
		expect(() => {
			p1 = shared();
		}).not.toThrow();
		const p2 = shared();
		expect(p2).toBe(p1);
		await expect(p1).rejects.toBe(error);
	});

	test('a synchronous throw is forgotten once settled: the next call runs `fn` again (p-memoize 8 alone keeps it)', async () => {
		let calls = 0;
		const shared = singleFlight(() => {
			calls++;
			if (calls === 1) {
				throw new Error('first call fails synchronously');
			}

			return 'second';
		});

		const first = shared();
		await expect(first).rejects.toThrow('first call fails synchronously');
		const second = shared();
		expect(second).not.toBe(first);
		await expect(second).resolves.toBe('second');
		expect(calls).toBe(2);
	});

	test('a synchronous throw under a `key` is forgotten for that key too', async () => {
		const calls = new Map<string, number>();
		const shared = singleFlight((id: string) => {
			calls.set(id, (calls.get(id) ?? 0) + 1);
			if (calls.get(id) === 1) {
				throw new Error(`first ${id}`);
			}

			return id;
		}, {key: id => id});

		await expect(shared('a')).rejects.toThrow('first a');
		await expect(shared('a')).resolves.toBe('a');
		expect(calls.get('a')).toBe(2);
	});

	test('plain (non-promise) return values work', async () => {
		const shared = singleFlight((a: number, b: number) => a + b);
		await expect(shared(2, 3)).resolves.toBe(5);
	});

	test('arguments and `this` reach `fn`', async () => {
		const object = {
			factor: 10,
			scaled: singleFlight(function (this: {factor: number}, value: number) {
				return value * this.factor;
			}),
		};
		await expect(object.scaled(4)).resolves.toBe(40);
	});

	test('by default every call shares one flight, whatever its arguments', async () => {
		const gate = deferred<number>();
		const fn = jest.fn(async (_value: number) => gate.promise);
		const shared = singleFlight(fn);

		expect(shared(1)).toBe(shared(2));
		expect(fn).toHaveBeenCalledTimes(1);
		expect(fn).toHaveBeenCalledWith(1);
		gate.resolve(1);
		await flushAll();
	});

	test('`key` gives each key its own flight', async () => {
		const gates = new Map([['a', deferred<string>()], ['b', deferred<string>()]]);
		const fn = jest.fn(async (id: string) => gates.get(id)!.promise);
		const shared = singleFlight(fn, {key: id => id});

		const a1 = shared('a');
		const b1 = shared('b');
		expect(shared('a')).toBe(a1);
		expect(b1).not.toBe(a1);
		expect(fn).toHaveBeenCalledTimes(2);

		gates.get('a')!.resolve('A');
		await expect(a1).resolves.toBe('A');
		// `b` is still in flight after `a` settled.
		expect(shared('b')).toBe(b1);
		gates.get('b')!.resolve('B');
		await expect(b1).resolves.toBe('B');
	});

	test('a throwing `key` rejects instead of throwing', async () => {
		const shared = singleFlight(async () => 1, {
			key() {
				throw new Error('bad key');
			},
		});
		await expect(shared()).rejects.toThrow('bad key');
	});

	test('a `key` that throws once keeps nothing: the next call runs `fn`', async () => {
		let keyCalls = 0;
		const fn = jest.fn(async () => 'value');
		const shared = singleFlight(fn, {
			key() {
				keyCalls++;
				if (keyCalls === 1) {
					throw new Error('bad key');
				}

				return 'k';
			},
		});
		await expect(shared()).rejects.toThrow('bad key');
		await expect(shared()).resolves.toBe('value');
		expect(fn).toHaveBeenCalledTimes(1);
	});

});

async function flushAll() {
	await new Promise(resolve => {
		setImmediate(resolve);
	});
}
