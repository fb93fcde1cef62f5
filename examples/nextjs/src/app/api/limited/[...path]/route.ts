// Limited by src/proxy.ts before it gets here (matcher `/api/limited/:path*`).
export const dynamic = 'force-dynamic';

export function GET(request: Request): Response {
	return Response.json({ok: true, path: new URL(request.url).pathname});
}
