import {spawn, type ChildProcess, execFile} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {createServer} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';

const run = promisify(execFile);

/** A port nobody listens on right now (and, with `withBus`, port + 10000 too, for Redis Cluster's bus). */
export async function freePort({withBus = false} = {}): Promise<number> {
	for (;;) {
		// eslint-disable-next-line no-await-in-loop
		const port = await listenOnce(0);
		// eslint-disable-next-line no-await-in-loop
		if (port < 55_000 && (!withBus || await listenOnce(port + 10_000).then(() => true, () => false))) {
			return port;
		}
	}
}

async function listenOnce(port: number): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(port, '127.0.0.1', () => {
			const {port: bound} = server.address() as {port: number};
			server.close(() => {
				resolve(bound);
			});
		});
	});
}

/**
For servers that replicas sync from: Redis 7 waits 5 s (`repl-diskless-sync-delay`) for more replicas before it sends
one the data, so every full sync — a replica's first, or after either side restarted — took 5 s more than it does.
*/
export const noSyncDelay = ['--repl-diskless-sync-delay', '0'];

/** Ask a server on `port` something with redis-cli (never the shared 6379 one unless told). */
export async function cli(port: number, ...arguments_: string[]): Promise<string> {
	const {stdout} = await run('redis-cli', ['-p', String(port), ...arguments_]);
	return stdout.trim();
}

/**
A private `redis-server` on a free loopback port, started and stopped by the test. Restarts keep the same port and dir.
*/
export class RedisServer {
	readonly dir = mkdtempSync(join(tmpdir(), 'connection-guard-redis-'));
	process: ChildProcess | undefined;

	private constructor(readonly port: number, private readonly extraArguments: string[], configLines?: string[]) {
		if (configLines) {
			// A config file, not arguments: a sentinel rewrites it with what it learns, and must find that after a restart.
			this.configFile = join(this.dir, 'redis.conf');
			writeFileSync(this.configFile, `${configLines.join('\n')}\n`);
		}
	}

	private readonly configFile: string | undefined;

	/**
	Start a server on a free port (or `port`). `configLines` go to a config file in the server's dir (`--sentinel` among
	`extraArguments` starts a sentinel); `redis-cli` for the readiness check gets `cliArguments` (TLS options).
	*/
	static async start({port, extraArguments = [], configLines, cliArguments = []}: {
		port?: number; extraArguments?: string[]; configLines?: string[]; cliArguments?: string[];
	} = {}): Promise<RedisServer> {
		const server = new RedisServer(port ?? await freePort({withBus: extraArguments.includes('--cluster-enabled')}), extraArguments, configLines);
		server.cliArguments = cliArguments;
		await server.restart();
		return server;
	}

	private cliArguments: string[] = [];

	/** A port reserved for a server that is not started yet (down at start). */
	static async reserve(extraArguments: string[] = []): Promise<RedisServer> {
		return new RedisServer(await freePort(), extraArguments);
	}

	get url(): string {
		return `redis://127.0.0.1:${this.port}`;
	}

	/** Start (again) on the same port, and wait until it answers PING; `extraArguments` for this start only. */
	async restart(extraArguments: string[] = []): Promise<void> {
		if (this.process) {
			throw new Error('redis-server is already running');
		}

		const child = spawn('redis-server', [
			...(this.configFile ? [this.configFile] : []),
			'--port', String(this.port),
			'--bind', '127.0.0.1',
			'--save', '',
			'--appendonly', 'no',
			'--dir', this.dir,
			...this.extraArguments,
			...extraArguments,
		], {stdio: 'ignore'});
		this.process = child;
		child.once('exit', () => {
			if (this.process === child) {
				this.process = undefined;
			}
		});

		const deadline = Date.now() + 10_000;
		while (Date.now() < deadline) {
			// eslint-disable-next-line no-await-in-loop
			if (await cli(this.port, ...this.cliArguments, 'PING').then(reply => reply === 'PONG', () => false)) {
				return;
			}

			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, 20);
			});
		}

		throw new Error(`redis-server on port ${this.port} did not start`);
	}

	/** SIGKILL, and wait until the process is gone. */
	async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
		const child = this.process;
		if (!child) {
			return;
		}

		const exited = new Promise(resolve => child.once('exit', resolve));
		child.kill(signal);
		await exited;
	}

	/**
	The process stops answering but keeps its sockets (SIGSTOP); `thaw()` resumes it. By pid: Deno's
	`ChildProcess#kill('SIGSTOP')` does not reach the process (measured on Deno 2.9), `process.kill(pid, …)` does on
	Node, Bun and Deno.
	*/
	freeze(): void {
		this.signal('SIGSTOP');
	}

	thaw(): void {
		this.signal('SIGCONT');
	}

	private signal(signal: NodeJS.Signals): void {
		if (this.process?.pid !== undefined) {
			process.kill(this.process.pid, signal);
		}
	}

	async stop(): Promise<void> {
		this.thaw();
		await this.kill('SIGKILL');
		rmSync(this.dir, {recursive: true, force: true});
	}
}

/** A 3-master Redis Cluster on loopback (`redis-cli --cluster create`), ready when `cluster_state:ok` on every node. */
export class RedisCluster {
	private constructor(readonly nodes: RedisServer[]) {}

	/** `masters` masters with `replicasPerMaster` replicas each; `nodeTimeoutMs`: how fast a failed master is replaced. */
	static async start(masters = 3, {replicasPerMaster = 0, nodeTimeoutMs = 2000} = {}): Promise<RedisCluster> {
		const nodes: RedisServer[] = [];
		for (let index = 0; index < masters * (1 + replicasPerMaster); index++) {
			// eslint-disable-next-line no-await-in-loop
			nodes.push(await RedisServer.start({
				extraArguments: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeoutMs), ...noSyncDelay],
			}));
		}

		await run('redis-cli', [
			'--cluster', 'create', ...nodes.map(node => `127.0.0.1:${node.port}`), '--cluster-replicas', String(replicasPerMaster), '--cluster-yes',
		]);
		const cluster = new RedisCluster(nodes);
		await cluster.waitUntilOk();
		return cluster;
	}

	/** The node that serves `key` as master now. */
	async masterOf(key: string): Promise<RedisServer> {
		const live = this.nodes.find(node => node.process);
		if (!live) {
			throw new Error('No cluster node is running');
		}

		const slot = Number(await cli(live.port, 'CLUSTER', 'KEYSLOT', key));
		for (const node of this.nodes) {
			if (!node.process) {
				continue;
			}

			// eslint-disable-next-line no-await-in-loop
			const lines = (await cli(node.port, 'CLUSTER', 'NODES')).split('\n');
			for (const line of lines) {
				const [, address = '', flags = '', , , , , , ...ranges] = line.split(' ');
				if (!flags.includes('master') || flags.includes('fail')) {
					continue;
				}

				const owns = ranges.some(range => {
					const [from, to = from] = range.split('-').map(Number);
					return slot >= from! && slot <= to!;
				});
				const port = Number(address.split('@')[0]!.split(':')[1]);
				const owner = this.nodes.find(candidate => candidate.port === port);
				if (owns && owner) {
					return owner;
				}
			}
		}

		throw new Error(`No master serves slot ${slot}`);
	}

	get startupNodes(): Array<{host: string; port: number}> {
		return this.nodes.map(node => ({host: '127.0.0.1', port: node.port}));
	}

	/** Until every node says `cluster_state:ok` and every replica's link to its master is up (it can take over). */
	async waitUntilOk(timeoutMs = 20_000): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		while (Date.now() < deadline) {
			const live = this.nodes.filter(node => node.process);
			// eslint-disable-next-line no-await-in-loop
			const states = await Promise.all(live.map(async node => {
				const [info, replication] = await Promise.all([
					cli(node.port, 'CLUSTER', 'INFO').catch(() => ''),
					cli(node.port, 'INFO', 'replication').catch(() => ''),
				]);
				return info.includes('cluster_state:ok') && (!replication.includes('role:slave') || replication.includes('master_link_status:up'));
			}));
			if (states.every(Boolean)) {
				return;
			}

			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, 100);
			});
		}

		throw new Error('Redis Cluster did not reach cluster_state:ok');
	}

	/** SIGKILL every node; `restart()` brings them back on the same ports, with their cluster config. */
	async kill(): Promise<void> {
		await Promise.all(this.nodes.map(async node => node.kill()));
	}

	/** Start every node that is not running, then wait until the cluster is ok again. */
	async restart(): Promise<void> {
		await Promise.all(this.nodes.map(async node => node.process ? undefined : node.restart()));
		await this.waitUntilOk();
	}

	freeze(): void {
		for (const node of this.nodes) {
			node.freeze();
		}
	}

	thaw(): void {
		for (const node of this.nodes) {
			node.thaw();
		}
	}

	async stop(): Promise<void> {
		await Promise.all(this.nodes.map(async node => node.stop()));
	}
}
