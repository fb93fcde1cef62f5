// A test run fails on any unhandled rejection: record them process-wide and fail the test during which they surfaced.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => {
	unhandled.push(reason);
};

process.on('unhandledRejection', onUnhandled);

afterEach(async () => {
	// Node reports unhandled rejections after the microtask queue drains: give it a macrotask first.
	await new Promise(resolve => {
		setImmediate(resolve);
	});
	const found = unhandled.splice(0);
	if (found.length > 0) {
		throw new Error(`Unhandled rejection(s) during this test: ${found.map(String).join('; ')}`);
	}
});

afterAll(() => {
	process.removeListener('unhandledRejection', onUnhandled);
});
