/*
Which connection failures retrying cannot fix. A wait-for-ready caller would otherwise wait out its whole deadline for
an error that comes back on every try (the README lists them).
*/
import {isObject} from './options.js';

// Redis's answers to a handshake with wrong or missing credentials, or for a user its ACL does not let in.
const permanentReply = /^(?:WRONGPASS|NOAUTH|NOPERM)\b|^ERR invalid (?:username-)?password/;

// Node's codes for a server certificate the client rejects (CERT_HAS_EXPIRED, CERT_NOT_YET_VALID, CERT_REJECTED,
// CERT_REVOKED, CERT_SIGNATURE_FAILURE, CERT_UNTRUSTED, DEPTH_ZERO_SELF_SIGNED_CERT, ERR_TLS_CERT_ALTNAME_INVALID,
// SELF_SIGNED_CERT_IN_CHAIN, UNABLE_TO_GET_ISSUER_CERT(_LOCALLY), UNABLE_TO_VERIFY_LEAF_SIGNATURE).
const rejectedCertificate = /^(?:CERT_(?:HAS_EXPIRED|NOT_YET_VALID|REJECTED|REVOKED|SIGNATURE_FAILURE|UNTRUSTED)|DEPTH_ZERO_SELF_SIGNED_CERT|ERR_TLS_CERT_ALTNAME_INVALID|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(?:GET_ISSUER_CERT(?:_LOCALLY)?|VERIFY_LEAF_SIGNATURE))$/;

/**
Whether `error`, as a client reported it while connecting, will come back on every try: authentication
(`WRONGPASS`, `NOAUTH`), authorization (`NOPERM`) or a rejected certificate. Refused, reset, timed-out connections and
DNS failures are not: the server may come back.
*/
export function isPermanentFailure(error: unknown, depth = 0): boolean {
	if (!isObject(error)) {
		return false;
	}

	const {code, message} = error;
	if (rejectedCertificate.test(String(code)) || permanentReply.test(String(message))) {
		return true;
	}

	// node-redis wraps the socket's error when its strategy gives up (`socketError`, `cause`); an ioredis Cluster keeps
	// its nodes' last one (`lastNodeError`).
	return depth < 3
		&& [error.cause, error.socketError, error.lastNodeError].some(inner => isPermanentFailure(inner, depth + 1));
}
