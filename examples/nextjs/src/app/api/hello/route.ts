import {checkRateLimit} from '@/lib/rate-limit/check';

// ioredis and Prisma's SQLite driver need Node.js (TCP sockets, native code): not the Edge runtime.
export const runtime = 'nodejs';
// Counted on every request: never a cached response.
export const dynamic = 'force-dynamic';

export async function GET(request: Request): Promise<Response> {
	const check = await checkRateLimit(request, 'hello');
	if (!check.allowed) {
		return check.response;
	}

	return Response.json({ok: true}, {headers: check.headers});
}
