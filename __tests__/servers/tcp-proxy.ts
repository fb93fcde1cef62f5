import {createServer, connect, type Server, type Socket} from 'node:net';

/**
- `forward`: pass bytes both ways.
- `blackhole`: accept connections, never forward or answer (a server that accepts TCP and then hangs).
- `reset`: accept, then drop the connection as soon as the client sends its first bytes (mid-handshake).
*/
export type ProxyMode = 'forward' | 'blackhole' | 'reset';

/**
A TCP proxy on loopback in front of a Redis server, to switch it "down" (nothing listens: connection refused), "up", or
"frozen" without touching the server itself. Works in front of any server, including one you do not own (`REDIS_URL`).
Hand-written on `node:net` because the faults must be switchable inside one process, with no external tool.
*/
export class TcpProxy {
	mode: ProxyMode = 'forward';
	private server: Server | undefined;
	private readonly sockets = new Set<Socket>();

	constructor(readonly target: {host: string; port: number}, readonly port = 0) {}

	get listening(): boolean {
		return this.server !== undefined;
	}

	/** Listen (again) on the same port; resolves with it. */
	async up(): Promise<number> {
		if (this.server) {
			return this.port;
		}

		const server = createServer(socket => {
			this.accepted++;
			this.track(socket);
			if (this.mode === 'blackhole') {
				return;
			}

			if (this.mode === 'reset') {
				socket.once('data', () => socket.destroy());
				return;
			}

			const upstream = connect(this.target.port, this.target.host);
			this.track(upstream);
			socket.pipe(upstream).pipe(socket);
			const destroyBoth = () => {
				socket.destroy();
				upstream.destroy();
			};

			socket.on('error', destroyBoth);
			upstream.on('error', destroyBoth);
			socket.on('close', destroyBoth);
			upstream.on('close', destroyBoth);
		});
		await new Promise<void>((resolve, reject) => {
			server.once('error', reject);
			server.listen(this.port, '127.0.0.1', () => {
				resolve();
			});
		});
		this.server = server;
		(this as {port: number}).port = (server.address() as {port: number}).port;
		return this.port;
	}

	/** Stop listening and drop every open connection: new connections are refused. */
	async down(): Promise<void> {
		const {server} = this;
		this.server = undefined;
		this.dropConnections();
		if (server) {
			await new Promise<void>(resolve => {
				server.close(() => {
					resolve();
				});
			});
		}
	}

	/** Connections accepted so far (to count a client's attempts). */
	accepted = 0;

	/** Drop every open connection but keep listening (clients see a reset and reconnect). */
	dropConnections(): void {
		for (const socket of this.sockets) {
			socket.destroy();
		}

		this.sockets.clear();
	}

	private track(socket: Socket) {
		this.sockets.add(socket);
		socket.on('close', () => this.sockets.delete(socket));
		socket.on('error', () => undefined);
	}
}
