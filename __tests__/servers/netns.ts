/*
A redis-server (or a Redis Cluster) in a network namespace of its own, reached over a veth pair, and a packet filter
inside that namespace that silently drops one established connection: the server is then gone for that socket without
closing it (no FIN, no RST: a failover that moved the address, a NAT that forgot the flow), while a new connection
still gets through. Needs root, `ip` (iproute2) and `iptables` (Debian: `apt-get install -y iproute2 iptables`).

Every name is unique to the process and the call (namespace, veth ends, a /30 in 10.213.0.0/16), so parallel workers
and a crashed earlier run do not collide; `stop()` deletes the namespace, which takes the veth pair and its rules with
it. Traffic goes only to the namespace made here (so the server runs with `--protected-mode no`: only this host
reaches it).
*/
import {spawn, execFile, execFileSync, type ChildProcess} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';

const run = promisify(execFile);

let made = 0;

/**
Why network namespaces cannot be used here, or `undefined` when they can (a namespace is made and deleted).
Synchronous, so that a test file can choose at load time whether its tests run.
*/
export function netnsUnavailable(): string | undefined {
	for (const tool of ['ip', 'iptables', 'redis-server', 'redis-cli']) {
		try {
			execFileSync('sh', ['-c', `command -v ${tool}`], {stdio: 'ignore'});
		} catch {
			return `\`${tool}\` is not installed (Debian: apt-get install -y iproute2 iptables)`;
		}
	}

	const probe = `cgprobe${process.pid}`;
	try {
		execFileSync('ip', ['netns', 'add', probe], {stdio: 'pipe'});
		execFileSync('ip', ['netns', 'exec', probe, 'iptables', '-L', 'INPUT', '-n'], {stdio: 'pipe'});
		return undefined;
	} catch (error) {
		const stderr = String((error as {stderr?: unknown}).stderr ?? '').trim();
		return `this sandbox refuses network namespaces or iptables in them: ${stderr || (error as Error).message}`;
	} finally {
		try {
			execFileSync('ip', ['netns', 'del', probe], {stdio: 'ignore'});
		} catch {
			// It was never made.
		}
	}
}

/** A network namespace joined to this one by a veth pair: the host end is `hostAddress`, the namespace's `address`. */
export class Netns {
	readonly servers: Array<{port: number; process: ChildProcess; dir: string}> = [];

	private constructor(
		readonly name: string,
		private readonly hostLink: string,
		readonly hostAddress: string,
		readonly address: string,
	) {}

	static async create(): Promise<Netns> {
		const index = made++;
		const id = `${process.pid % 100_000}x${index}`;
		// A /30 per namespace, 10.213.P.4n: the pid picks P, the call's number n.
		const prefix = `10.213.${process.pid % 250}`;
		const base = (index % 64) * 4;
		const netns = new Netns(`cg-${id}`, `cgh${id}`, `${prefix}.${base + 1}`, `${prefix}.${base + 2}`);
		const inside = `cgn${id}`;
		try {
			await run('ip', ['netns', 'add', netns.name]);
			await run('ip', ['link', 'add', netns.hostLink, 'type', 'veth', 'peer', 'name', inside]);
			await run('ip', ['link', 'set', inside, 'netns', netns.name]);
			await run('ip', ['addr', 'add', `${netns.hostAddress}/30`, 'dev', netns.hostLink]);
			await run('ip', ['link', 'set', netns.hostLink, 'up']);
			await netns.exec('ip', 'addr', 'add', `${netns.address}/30`, 'dev', inside);
			await netns.exec('ip', 'link', 'set', inside, 'up');
			await netns.exec('ip', 'link', 'set', 'lo', 'up');
		} catch (error) {
			await netns.stop();
			throw error;
		}

		return netns;
	}

	async exec(command: string, ...arguments_: string[]): Promise<string> {
		const {stdout} = await run('ip', ['netns', 'exec', this.name, command, ...arguments_]);
		return stdout.trim();
	}

	/** A private redis-server inside the namespace, bound to its address; resolves once it answers PING. */
	async startRedis(port: number, extraArguments: string[] = []): Promise<number> {
		const dir = mkdtempSync(join(tmpdir(), 'connection-guard-netns-'));
		const child = spawn('ip', [
			'netns', 'exec', this.name, 'redis-server', '--port', String(port), '--bind', this.address, '--save', '',
			'--appendonly', 'no', '--protected-mode', 'no', '--dir', dir, ...extraArguments,
		], {stdio: 'ignore'});
		this.servers.push({port, process: child, dir});
		const deadline = Date.now() + 10_000;
		while (Date.now() < deadline) {
			// eslint-disable-next-line no-await-in-loop
			if (await this.cli(port, 'PING').then(reply => reply === 'PONG', () => false)) {
				return port;
			}

			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, 20);
			});
		}

		throw new Error(`redis-server in ${this.name} on port ${port} did not start`);
	}

	/** A Redis Cluster of `masters` nodes inside the namespace (ports from `firstPort`), once `cluster_state:ok`. */
	async startCluster(firstPort: number, masters = 3): Promise<number[]> {
		const ports = Array.from({length: masters}, (_, index) => firstPort + index);
		await Promise.all(ports.map(async port => this.startRedis(port, [
			'--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000',
		])));
		await this.exec('redis-cli', '--cluster', 'create', ...ports.map(port => `${this.address}:${port}`), '--cluster-replicas', '0', '--cluster-yes');
		const deadline = Date.now() + 20_000;
		while (Date.now() < deadline) {
			// eslint-disable-next-line no-await-in-loop
			const states = await Promise.all(ports.map(async port => this.cli(port, 'CLUSTER', 'INFO').catch(() => '')));
			if (states.every(state => state.includes('cluster_state:ok'))) {
				return ports;
			}

			// eslint-disable-next-line no-await-in-loop
			await new Promise(resolve => {
				setTimeout(resolve, 100);
			});
		}

		throw new Error(`Redis Cluster in ${this.name} did not reach cluster_state:ok`);
	}

	/** redis-cli from the host's side, over the veth pair (as the clients reach it). */
	async cli(port: number, ...arguments_: string[]): Promise<string> {
		const {stdout} = await run('redis-cli', ['-h', this.address, '-p', String(port), ...arguments_]);
		return stdout.trim();
	}

	/**
	Drop, from now on, every packet of the connection whose client end is `localPort`, both ways, silently: the server
	side never sees the client again and the client never hears from it; other connections pass.
	*/
	async dropConnection(localPort: number): Promise<void> {
		await this.exec('iptables', '-A', 'INPUT', '-p', 'tcp', '--sport', String(localPort), '-j', 'DROP');
		await this.exec('iptables', '-A', 'OUTPUT', '-p', 'tcp', '--dport', String(localPort), '-j', 'DROP');
	}

	/** Stop the servers and delete the namespace (its veth pair and rules go with it). Safe to call twice. */
	async stop(): Promise<void> {
		await Promise.all(this.servers.splice(0).map(async ({process: child, dir}) => {
			if (child.exitCode === null && child.signalCode === null) {
				const exited = new Promise(resolve => child.once('exit', resolve));
				child.kill('SIGKILL');
				await exited;
			}

			rmSync(dir, {recursive: true, force: true});
		}));
		await run('ip', ['netns', 'del', this.name]).catch(() => undefined);
		await run('ip', ['link', 'del', this.hostLink]).catch(() => undefined);
	}
}
