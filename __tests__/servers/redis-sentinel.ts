import {cli, noSyncDelay, RedisServer} from './redis-server.js';

/**
A Sentinel topology on loopback: one master, one replica and three sentinels (`redis-server --sentinel` with a generated
config), each a private `redis-server` on a free port. `downAfterMs` sets how fast a dead master is replaced;
`failoverTimeoutMs` how long a failover may take, and also how soon a sentinel that began one may begin the next for the
same master name (twice that after the previous began): a file that fails over twice waits out the rest of that.
*/
export class RedisSentinelTopology {
	private constructor(
		readonly name: string,
		readonly master: RedisServer,
		readonly replica: RedisServer,
		readonly sentinels: RedisServer[],
	) {}

	static async start({name = 'mymaster', downAfterMs = 1000, failoverTimeoutMs = 10_000} = {}): Promise<RedisSentinelTopology> {
		const master = await RedisServer.start({extraArguments: noSyncDelay});
		const replica = await RedisServer.start({extraArguments: [...noSyncDelay, '--replicaof', '127.0.0.1', String(master.port)]});
		const sentinels = await Promise.all(Array.from({length: 3}, async () => RedisServer.start({
			extraArguments: ['--sentinel'],
			configLines: [
				`sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
				`sentinel down-after-milliseconds ${name} ${downAfterMs}`,
				`sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
				`sentinel parallel-syncs ${name} 1`,
			],
		})));
		const topology = new RedisSentinelTopology(name, master, replica, sentinels);
		await topology.waitUntilSettled();
		return topology;
	}

	/** What ioredis's `sentinels` option (and node-redis's `sentinelRootNodes`) takes. */
	get sentinelNodes(): Array<{host: string; port: number}> {
		return this.sentinels.map(sentinel => ({host: '127.0.0.1', port: sentinel.port}));
	}

	get dataNodes(): RedisServer[] {
		return [this.master, this.replica];
	}

	/** The port the sentinels name as master now. */
	async masterPort(): Promise<number> {
		const [, port] = (await cli(this.sentinels[0]!.port, 'SENTINEL', 'get-master-addr-by-name', this.name)).split('\n');
		return Number(port);
	}

	/**
	Until the replica's link is up and every sentinel knows the master, its replica and the two other sentinels (they find
	each other through hello messages every 2 s).
	*/
	async waitUntilSettled(timeoutMs = 30_000): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		while (Date.now() < deadline) {
			// eslint-disable-next-line no-await-in-loop
			const [masterPort, views] = await Promise.all([
				this.masterPort().catch(() => 0),
				Promise.all(this.sentinels.map(async sentinel => cli(sentinel.port, 'SENTINEL', 'master', this.name).catch(() => ''))),
			]);
			const replica = this.dataNodes.find(node => node.port !== masterPort);
			// eslint-disable-next-line no-await-in-loop
			const replication = replica?.process ? await cli(replica.port, 'INFO', 'replication').catch(() => '') : '';
			const field = (view: string, name: string) => {
				const lines = view.split('\n');
				return lines[lines.indexOf(name) + 1];
			};

			if (replication.includes('master_link_status:up')
				&& views.every(view => field(view, 'num-other-sentinels') === '2' && field(view, 'num-slaves') === '1'
					&& !field(view, 'flags')?.includes('down'))) {
				return;
			}

			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, 100);
			});
		}

		throw new Error('The Sentinel topology did not settle');
	}

	/** SIGKILL every process; `restart()` brings them back on the same ports, the sentinels with what they had learnt. */
	async kill(): Promise<void> {
		await Promise.all([...this.dataNodes, ...this.sentinels].map(async server => server.kill()));
	}

	/**
	Starts every process that is not running. A data node that died as master while the sentinels promoted the other one
	comes back as that one's replica: started as a master, it would wait for the sentinels to convert it (they see its
	role in INFO, which they ask a replica for every 10 s) and then for a full sync.
	*/
	async restart(): Promise<void> {
		const liveSentinel = this.sentinels.some(sentinel => sentinel.process);
		const masterPort = liveSentinel ? await this.masterPort().catch(() => 0) : 0;
		const master = this.dataNodes.find(node => node.port === masterPort && node.process);
		for (const server of [...this.dataNodes, ...this.sentinels]) {
			if (!server.process) {
				const asReplica = master && this.dataNodes.includes(server) ? ['--replicaof', '127.0.0.1', String(master.port)] : [];
				// eslint-disable-next-line no-await-in-loop
				await server.restart(asReplica);
			}
		}

		await this.waitUntilSettled();
	}

	freeze(): void {
		for (const server of [...this.dataNodes, ...this.sentinels]) {
			server.freeze();
		}
	}

	thaw(): void {
		for (const server of [...this.sentinels, ...this.dataNodes]) {
			server.thaw();
		}
	}

	async stop(): Promise<void> {
		await Promise.all([...this.dataNodes, ...this.sentinels].map(async server => server.stop()));
	}
}
