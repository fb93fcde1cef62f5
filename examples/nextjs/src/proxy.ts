// Next.js 16's proxy (formerly middleware.ts) runs on the Node.js runtime, so it can use the same limiter as the routes.
import {NextResponse, type NextRequest} from 'next/server';
import {checkRateLimit} from '@/lib/rate-limit/check';

export async function proxy(request: NextRequest): Promise<Response> {
	const check = await checkRateLimit(request, 'limited');
	if (!check.allowed) {
		return check.response;
	}

	const response = NextResponse.next();
	for (const [name, value] of check.headers) {
		response.headers.set(name, value);
	}

	return response;
}

export const config = {
	matcher: '/api/limited/:path*',
};
