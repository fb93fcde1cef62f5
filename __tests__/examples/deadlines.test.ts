import {DeadlineSweeper} from '../../examples/rate-limit/deadlines.js';

describe('DeadlineSweeper', () => {
	beforeEach(() => {
		jest.useFakeTimers({doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask']});
	});

	afterEach(() => {
		jest.useRealTimers();
	});

	test('rejects an operation still running at its deadline, within one sweep step, with a fresh error each time', () => {
		const sweeper = new DeadlineSweeper(1000, () => new Error('too slow'));
		const first = jest.fn();
		const second = jest.fn();
		sweeper.add(first);
		sweeper.add(second);
		jest.advanceTimersByTime(999);
		expect(first).not.toHaveBeenCalled();
		jest.advanceTimersByTime(100);
		expect(first).toHaveBeenCalledTimes(1);
		expect(second).toHaveBeenCalledTimes(1);
		expect(first.mock.calls[0]![0]).not.toBe(second.mock.calls[0]![0]);
		expect(sweeper.size).toBe(0);
		expect(jest.getTimerCount()).toBe(0);
	});

	test('rejectSent() rejects at once only the operations marked sent, with the connection-lost error', () => {
		const sweeper = new DeadlineSweeper(1000, () => new Error('too slow'), () => new Error('connection lost'));
		const waiting = jest.fn();
		const sent = jest.fn();
		const waitingEntry = sweeper.add(waiting);
		const sentEntry = sweeper.add(sent);
		sentEntry.sent = true;
		sweeper.rejectSent();
		expect(sent).toHaveBeenCalledWith(expect.objectContaining({message: 'connection lost'}));
		expect(waiting).not.toHaveBeenCalled();
		expect(sweeper.watching(sentEntry)).toBe(false);
		expect(sweeper.watching(waitingEntry)).toBe(true);
		jest.advanceTimersByTime(1050);
		expect(waiting).toHaveBeenCalledWith(expect.objectContaining({message: 'too slow'}));
		expect(sweeper.watching(waitingEntry)).toBe(false);
		expect(jest.getTimerCount()).toBe(0);
	});

	test('a settled operation is never rejected, and the timer stops once nothing is watched', () => {
		const sweeper = new DeadlineSweeper(200, () => new Error('too slow'));
		const settled = jest.fn();
		const late = jest.fn();
		const entry = sweeper.add(settled);
		const lateEntry = sweeper.add(late);
		sweeper.delete(entry);
		expect(sweeper.size).toBe(1);
		jest.advanceTimersByTime(250);
		expect(settled).not.toHaveBeenCalled();
		expect(late).toHaveBeenCalledTimes(1);
		// Deleting an entry the sweep already removed is harmless.
		sweeper.delete(lateEntry);
		expect(jest.getTimerCount()).toBe(0);
	});

	test('deleting from the middle, the head and the tail keeps the rest watched', () => {
		const sweeper = new DeadlineSweeper(100, () => new Error('too slow'));
		const rejects = Array.from({length: 5}, () => jest.fn());
		const entries = rejects.map(reject => sweeper.add(reject));
		sweeper.delete(entries[2]!);
		sweeper.delete(entries[0]!);
		sweeper.delete(entries[4]!);
		expect(sweeper.size).toBe(2);
		jest.advanceTimersByTime(120);
		expect(rejects.map(reject => reject.mock.calls.length)).toEqual([0, 1, 0, 1, 0]);
		expect(jest.getTimerCount()).toBe(0);
	});
});
