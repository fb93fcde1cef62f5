/*
Time to recover from a server gone without closing the socket, for docs/failure-behaviour.md: each client, on its own
connection to a redis-server in a network namespace, sends a PING every 200 ms; then a packet filter drops that
connection's packets (a new connection still gets through). Recovered = the first PING sent after the rule that gets its
PONG; measured from the rule, capped at `--cap` seconds (default 60). All clients run at once, so it takes one cap.

	npx tsx __tests__/servers/measure-dead-connection.ts [--cap 60]

Needs root, iproute2 and iptables (see netns.ts).
*/
import {Redis} from 'ioredis';
import {createClient} from 'redis';
import {guardedRedis} from '../../src/index.js';
import {Netns, netnsUnavailable} from './netns.js';

const capIndex = process.argv.indexOf('--cap');
const capMs = (capIndex === -1 ? 60 : Number(process.argv[capIndex + 1])) * 1000;
const everyMs = 200;

type Case = {name: string; ping(): Promise<unknown>; clientPort(): Promise<number>; close(): void};

const unavailable = netnsUnavailable();
if (unavailable) {
	console.error(`cannot measure: ${unavailable}`);
	process.exit(1);
}

const netns = await Netns.create();
try {
	const port = await netns.startRedis(6379);
	const host = netns.address;
	const portsNow = async (): Promise<Set<number>> => {
		const lines = await netns.exec('ss', '-Htn', 'state', 'established', `( sport = :${port} )`);
		const peer = (line: string) => Number(line.trim().split(/\s+/).at(-1)!.split(':').at(-1));
		return new Set(lines.split('\n').filter(Boolean).map(line => peer(line)));
	};

	// node-redis keeps its socket private: its client port is the one that appeared when it connected.
	type NodeRedisOptions = Parameters<typeof createClient>[0];
	const nodeRedisCase = async (name: string, options: NodeRedisOptions, guard?: object): Promise<Case> => {
		const before = await portsNow();
		const client = createClient(options);
		client.on('error', () => undefined);
		await client.connect();
		const added = [...await portsNow()].filter(clientPort => !before.has(clientPort));
		if (added.length !== 1) {
			throw new Error(`${name}: expected one new connection, found ${added.length}`);
		}

		const guarded = guard && guardedRedis(client, guard);
		return {
			name,
			ping: async () => guarded ? guarded.run(async redis => redis.ping()) : client.ping(),
			clientPort: async () => added[0]!,
			close() {
				client.destroy();
			},
		};
	};

	const ioredisCase = async (name: string, guard?: object): Promise<Case> => {
		const client = new Redis({host, port});
		client.on('error', () => undefined);
		await client.ping();
		const guarded = guard && guardedRedis(client, guard);
		return {
			name,
			ping: async () => guarded ? guarded.run(async redis => redis.ping()) : client.ping(),
			clientPort: async () => (client.stream as unknown as {localPort: number}).localPort,
			close() {
				client.disconnect();
			},
		};
	};

	const cases: Case[] = [];
	cases.push(await ioredisCase('ioredis 5 alone (defaults)'));
	cases.push(await nodeRedisCase('node-redis 6 alone (defaults)', {socket: {host, port}}));
	cases.push(await nodeRedisCase('node-redis 6 alone, pingInterval 1000', {socket: {host, port}, pingInterval: 1000}));
	cases.push(await ioredisCase('ioredis 5 + guard (timeoutMs 1000, default deadConnectionMs 2000)', {timeoutMs: 1000}));
	cases.push(await nodeRedisCase('node-redis 6 + guard (timeoutMs 1000, default deadConnectionMs 2000)', {socket: {host, port}}, {timeoutMs: 1000}));
	cases.push(await ioredisCase('ioredis 5 + guard (timeoutMs 1000, deadConnectionMs 1000)', {timeoutMs: 1000, deadConnectionMs: 1000}));

	for (const each of cases) {
		// eslint-disable-next-line no-await-in-loop
		await netns.dropConnection(await each.clientPort());
	}

	const since = performance.now();
	const results = await Promise.all(cases.map(async each => new Promise<string>(resolve => {
		let done = false;
		let longestMs = 0;
		const pending = new Set<number>();
		const finish = (text: string) => {
			if (!done) {
				done = true;
				clearInterval(timer);
				clearTimeout(cap);
				// Requests still unanswered count with how long they have waited so far.
				const waited = Math.max(longestMs, ...[...pending].map(sentAt => performance.now() - sentAt));
				resolve(`${each.name}: ${text}; longest request so far ${Math.round(waited)} ms`);
			}
		};

		const timer = setInterval(() => {
			const sentAt = performance.now();
			pending.add(sentAt);
			each.ping().then(() => {
				finish(`recovered after ${Math.round(performance.now() - since)} ms`);
			}, () => undefined).finally(() => {
				pending.delete(sentAt);
				longestMs = Math.max(longestMs, performance.now() - sentAt);
			});
		}, everyMs);
		const cap = setTimeout(() => {
			finish(`not recovered within ${capMs / 1000} s`);
		}, capMs);
	})));
	for (const line of results) {
		console.log(line);
	}

	for (const each of cases) {
		each.close();
	}
} finally {
	await netns.stop();
}

process.exit(0);
