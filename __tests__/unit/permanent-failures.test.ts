/*
Which errors end a wait at once: the errors as the clients report them (measured on ioredis 5/6 and node-redis 5/6,
shapes in the comments), and the ones that must keep today's retry-until-the-deadline behaviour.
*/
import {isPermanentFailure} from '../../src/permanent-failures.js';

// node-redis's reply class leaves `name` at 'Error'; ioredis's is 'ReplyError'.
class ErrorReply extends Error {}
const withCode = (message: string, code: string) => Object.assign(new Error(message), {code});

test.each([
	['WRONGPASS (ioredis ReplyError)', Object.assign(new Error('WRONGPASS invalid username-password pair or user is disabled.'), {name: 'ReplyError'})],
	['WRONGPASS (node-redis ErrorReply)', new ErrorReply('WRONGPASS invalid username-password pair or user is disabled.')],
	['NOAUTH, RESP2 ready check', new ErrorReply('NOAUTH Authentication required.')],
	['NOAUTH, RESP3 HELLO', new ErrorReply('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used')],
	['NOPERM', new ErrorReply('NOPERM this user has no permissions to run the \'hello\' command')],
	['Redis 5 AUTH', new ErrorReply('ERR invalid password')],
	['self-signed certificate', withCode('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT')],
	['unknown CA in the chain', withCode('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN')],
	['leaf not verifiable', withCode('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')],
	['expired', withCode('certificate has expired', 'CERT_HAS_EXPIRED')],
	['wrong host name', withCode('Hostname/IP does not match certificate\'s altnames: IP: 127.0.0.1 is not in the cert\'s list: ', 'ERR_TLS_CERT_ALTNAME_INVALID')],
	['node-redis giving up: the socket error inside', Object.assign(new Error('Reconnect strategy gave up'), {socketError: new ErrorReply('WRONGPASS invalid username-password pair')})],
	['an ioredis Cluster\'s node error', Object.assign(new Error('Failed to refresh slots cache.'), {lastNodeError: new ErrorReply('NOAUTH Authentication required.')})],
	['as a cause', new Error('connect failed', {cause: withCode('certificate has expired', 'CERT_HAS_EXPIRED')})],
])('permanent: %s', (_label, error) => {
	expect(isPermanentFailure(error)).toBe(true);
});

test.each([
	['refused', withCode('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED')],
	['reset', withCode('connect ECONNRESET 127.0.0.1:6379', 'ECONNRESET')],
	['connect timeout (ioredis)', withCode('connect ETIMEDOUT', 'ETIMEDOUT')],
	['connect timeout (node-redis ConnectionTimeoutError)', new Error('Connection timeout')],
	['DNS not found', withCode('getaddrinfo ENOTFOUND redis.internal', 'ENOTFOUND')],
	['DNS temporary failure', withCode('getaddrinfo EAI_AGAIN redis.internal', 'EAI_AGAIN')],
	['closed', new Error('Connection is closed.')],
	['loading', new ErrorReply('LOADING Redis is loading the dataset in memory')],
	['a message that only mentions NOAUTH', new Error('connection failed after NOAUTH')],
	['not an error', 'WRONGPASS'],
	['undefined', undefined],
])('transient: %s', (_label, error) => {
	expect(isPermanentFailure(error)).toBe(false);
});
