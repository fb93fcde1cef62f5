/*
examples/nextjs over real HTTP: built with `next build`, served with `next start` through `npm run example:nextjs`'s
script, against a private redis-server, with the SQLite fallback. `npm run test:nextjs` (not part of `npm test`).
*/
import {exampleAppContract, limit} from '../helpers/example-app-contract.js';
import {get, herd, statuses} from '../helpers/example-app.js';

jest.setTimeout(240_000);

exampleAppContract({
	name: 'nextjs',
	hello: '/api/hello',
	unavailableBody: {error: 'Rate limiting is unavailable, please try again later.'},
	alsoLimited: ['/api/limited/x'],
	trustedProxyTests(context) {
		test('headers: RateLimit and RateLimit-Policy (draft-8) under the limit; 429 adds Retry-After', async () => {
			const {app} = context();
			const client = {'x-forwarded-for': '203.0.113.2, 10.0.0.1'};
			const first = await get(app, '/api/hello', client);
			expect(first.status).toBe(200);
			expect(first.body).toEqual({ok: true});
			expect(first.headers.get('ratelimit')).toMatch(/^"10-in-60s"; r=9; t=(59|60)$/);
			expect(first.headers.get('ratelimit-policy')).toMatch(/^"10-in-60s"; q=10; w=60; pk=:[\w+/=]+:$/);
			expect(first.headers.get('retry-after')).toBeNull();

			await herd(app, limit - 1, '/api/hello', client);
			const over = await get(app, '/api/hello', client);
			expect(over.status).toBe(429);
			expect(over.headers.get('ratelimit')).toMatch(/^"10-in-60s"; r=0; t=\d+$/);
			expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
			expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(60);
		});

		test('proxy.ts limits /api/limited/* the same way, with its own counters and the same headers', async () => {
			const {app} = context();
			const client = {'x-forwarded-for': '192.0.2.44'};
			expect(await herd(app, 30, '/api/limited/a/b', client)).toEqual(statuses(limit, 20));
			const over = await get(app, '/api/limited/c', client);
			expect(over.status).toBe(429);
			expect(over.headers.get('retry-after')).not.toBeNull();
			const other = await get(app, '/api/limited/c', {'x-forwarded-for': '192.0.2.45'});
			expect(other).toMatchObject({status: 200, body: {ok: true, path: '/api/limited/c'}});
			expect(other.headers.get('ratelimit')).toMatch(/^"10-in-60s"; r=9; t=\d+$/);
		});
	},
	async duringOutage(app, client) {
		expect(await herd(app, 15, '/api/limited/x', client)).toEqual(statuses(limit, 5));
	},
});
