import {execFile} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';
import {freePort, RedisServer} from './redis-server.js';

const run = promisify(execFile);

/** PEM files made by `openssl` for one run: a CA, a server certificate it signed (127.0.0.1, localhost), another CA. */
export type TestCertificates = {dir: string; ca: string; wrongCa: string; cert: string; key: string};

export async function makeCertificates(): Promise<TestCertificates> {
	const dir = mkdtempSync(join(tmpdir(), 'connection-guard-tls-'));
	const file = (name: string) => join(dir, name);
	const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
	const openssl = async (...arguments_: string[]) => run('openssl', arguments_, {cwd: dir});
	await openssl('req', '-x509', '-new', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=connection-guard test CA');
	await openssl('req', '-x509', '-new', ...ec, '-keyout', 'wrong-ca.key', '-out', 'wrong-ca.crt', '-days', '2', '-subj', '/CN=another CA');
	await openssl('req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
	writeFileSync(file('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
	await openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.cnf');
	return {dir, ca: file('ca.crt'), wrongCa: file('wrong-ca.crt'), cert: file('server.crt'), key: file('server.key')};
}

/** A private `redis-server` that speaks TLS only (`--port 0 --tls-port P`), clients unauthenticated. */
export async function startTlsServer(certificates: TestCertificates): Promise<RedisServer> {
	const port = await freePort();
	return RedisServer.start({
		port,
		extraArguments: [
			'--port', '0', '--tls-port', String(port),
			'--tls-cert-file', certificates.cert, '--tls-key-file', certificates.key, '--tls-ca-cert-file', certificates.ca,
			'--tls-auth-clients', 'no',
		],
		cliArguments: ['--tls', '--cacert', certificates.ca],
	});
}

export const readPem = (path: string): string => readFileSync(path, 'utf8');

export function removeCertificates(certificates: TestCertificates): void {
	rmSync(certificates.dir, {recursive: true, force: true});
}
