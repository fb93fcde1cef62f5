/*
ioredis with Sentinel on a real topology (one master, one replica, three sentinels), started once for this file: the
contract suite in both modes, then a failover under a request loop.
*/
import {Redis} from 'ioredis';
import {createSentinel} from 'redis';
import {guardedRedis} from '../../src/index.js';
import {freePort} from '../servers/redis-server.js';
import {RedisSentinelTopology} from '../servers/redis-sentinel.js';
import {ioredisBehaviour} from './ioredis-target.js';
import {nodeRedisBehaviour, reconnectStrategy, startup} from './node-redis-target.js';
import {guardContract, modes, type ClientOptions, type GuardClient, type Target} from './contract.js';

jest.setTimeout(60_000);

let topology: RedisSentinelTopology;
let refusedPort: number;

// Once for the file: the contract suite and the failover case share the topology. The failover case fails the master
// over twice (once per mode): with Sentinel's failover-timeout at 10 s, the second began 20 s after the first
// (measured); 4 s leaves a failover (about 2 s here, down-after included) twice its time to finish.
beforeAll(async () => {
	topology = await RedisSentinelTopology.start({failoverTimeoutMs: 4000});
	refusedPort = await freePort();
});

afterAll(async () => {
	await topology.stop();
});

function sentinelClient(options: ClientOptions = {}, overrides: Record<string, unknown> = {}): Redis {
	const retry = options.retry ? (times: number) => Math.min(times * 20, 200) : () => null;
	return new Redis({
		name: topology.name,
		sentinels: options.refused ? [{host: '127.0.0.1', port: refusedPort}] : topology.sentinelNodes,
		lazyConnect: options.lazy ?? true,
		retryStrategy: retry,
		sentinelRetryStrategy: retry,
		maxRetriesPerRequest: 1,
		disconnectTimeout: 100,
		...overrides,
	});
}

const target: Target = {
	...ioredisBehaviour,
	name: 'ioredis Sentinel (master, replica, 3 sentinels)',
	// ioredis reports the sentinels' failure, with "Last error: Connection is closed." rather than the socket's
	// ECONNREFUSED.
	refusedCause: /All sentinels are unreachable/,
	// Started and stopped once for the file, above.
	async start() {},
	async stop() {},
	client: options => sentinelClient(options) as unknown as GuardClient,
	address: options => `sentinel ${topology.name} via ${(options?.refused ? [{port: refusedPort}] : topology.sentinelNodes)
		.map(({port}) => `127.0.0.1:${port}`).join(', ')}`,
	// With all sentinels unreachable ioredis retries inside its connect (status stays `connecting`) and says so with
	// `error`.
	async retrying(client) {
		await new Promise(resolve => {
			client.once('error', resolve);
		});
	},
	kill: async () => topology.kill(),
	restart: async () => topology.restart(),
	freeze: () => topology.freeze(),
	thaw: () => topology.thaw(),
};

guardContract(target);

// node-redis's sentinel client reports a refused or absent topology without the underlying error (an `error` event with
// no value, a string rejection) and emits no `reconnecting` while it looks for a master: the cases about failures are
// left out.
guardContract({
	...nodeRedisBehaviour,
	start: target.start,
	stop: target.stop,
	kill: target.kill,
	restart: target.restart,
	freeze: target.freeze,
	thaw: target.thaw,
	name: 'node-redis 6 createSentinel (master, replica, 3 sentinels)',
	retriesByItself: true,
	client: (options = {}) => startup(createSentinel({
		name: topology.name,
		sentinelRootNodes: options.refused ? [{host: '127.0.0.1', port: refusedPort}] : topology.sentinelNodes,
		nodeClientOptions: {socket: {reconnectStrategy: reconnectStrategy(options)}},
		sentinelClientOptions: {socket: {reconnectStrategy: reconnectStrategy(options)}},
	}) as unknown as GuardClient, options),
	address: () => 'sentinel',
}, {failureCases: false});

describe('ioredis Sentinel: kill -9 of the master under a request loop', () => {
	test.each(modes)('$name', async ({waitForReady}) => {
		await topology.restart();
		// As an app that must not drop a command would have it: commands cut off by the kill wait for the promoted master.
		const client = sentinelClient({retry: true}, {maxRetriesPerRequest: null});
		client.on('error', () => undefined);
		const guard = guardedRedis(client, {timeoutMs: waitForReady ? 15_000 : 1000, waitForReady});
		await guard.ensureConnected();
		const oldMaster = await topology.masterPort();
		const outcomes: Array<{ms: number; outcome: string}> = [];
		let stop = false;
		let failedCommands = 0;
		const loops = Array.from({length: 8}, async (_, loop) => {
			for (let index = 0; !stop && index < 10_000; index++) {
				const started = performance.now();
				// eslint-disable-next-line no-await-in-loop
				const outcome = await guard.ensureConnected().then(
					async ready => ready.set(`failover:${loop}`, String(index)).then(() => 'ok', () => {
						failedCommands++;
						return 'command failed';
					}),
					(error: {code: string}) => error.code,
				);
				outcomes.push({ms: performance.now() - started, outcome});
				// eslint-disable-next-line no-await-in-loop
				await new Promise(resolve => {
					setImmediate(resolve);
				});
			}
		});

		const master = topology.dataNodes.find(node => node.port === oldMaster)!;
		await master.kill();
		// Until the sentinels promote the replica (down-after 1 s, then the failover) and the client follows them.
		const deadline = Date.now() + 30_000;
		// eslint-disable-next-line no-await-in-loop
		while (Date.now() < deadline && await topology.masterPort() === oldMaster) {
			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, 100);
			});
		}

		const newMaster = await topology.masterPort();
		expect(newMaster).not.toBe(oldMaster);
		await guard.ensureConnected({waitForReady: true, timeoutMs: 20_000});
		await client.set('failover:after', '1');
		stop = true;
		await Promise.all(loops);
		client.disconnect();

		// Commands run on the promoted replica.
		expect((client as unknown as {stream: {remotePort: number}}).stream.remotePort).toBe(newMaster);
		expect(outcomes.length).toBeGreaterThan(0);
		if (waitForReady) {
			// No request fails: every wait ended ready and every command went through (ioredis resends after the switch).
			expect(outcomes.filter(({outcome}) => outcome !== 'ok')).toEqual([]);
			expect(failedCommands).toBe(0);
		} else {
			// Every request is answered within its deadline: ready, or CONNECT_FAILED while the client is between tries.
			for (const {ms, outcome} of outcomes) {
				expect(['ok', 'command failed', 'CONNECT_FAILED', 'TIMEOUT']).toContain(outcome);
				if (outcome === 'CONNECT_FAILED' || outcome === 'TIMEOUT') {
					expect(ms).toBeLessThanOrEqual(1000 + 300);
				}
			}
		}
	});
});
