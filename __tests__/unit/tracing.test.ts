import {tracingChannel} from 'node:diagnostics_channel';
import {hasSubscribers} from '../../src/tracing.js';

const subChannels = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;

describe('hasSubscribers(channel): whether a trace is published at all', () => {
	test('follows TracingChannel#hasSubscribers where the runtime has it (Node, Deno)', () => {
		const channel = tracingChannel('connection-guard:unit-test');
		expect(hasSubscribers(channel)).toBe(false);
		const subscriber = {asyncEnd() {}};
		channel.subscribe(subscriber as never);
		expect(hasSubscribers(channel)).toBe(true);
		channel.unsubscribe(subscriber as never);
		expect(hasSubscribers(channel)).toBe(false);
	});

	test.each(subChannels)('without it (Bun 1.4): a subscriber on `%s` alone counts', name => {
		const channel = Object.fromEntries(subChannels.map(sub => [sub, {hasSubscribers: sub === name}]));
		expect(hasSubscribers(channel)).toBe(true);
	});

	test('without it (Bun 1.4): no subscriber on any sub-channel publishes nothing', () => {
		const channel = Object.fromEntries(subChannels.map(sub => [sub, {hasSubscribers: false}]));
		expect(hasSubscribers(channel)).toBe(false);
	});
});
