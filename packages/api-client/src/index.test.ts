import { describe, expect, it } from 'vitest';
import { ApiRequestError, createCordonClient, ok } from './index.js';

/** A fetch that records each request and answers with `answer`. */
function fakeFetch(answer: (req: Request) => Response | Promise<Response>) {
  const seen: Request[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(input, init);
    seen.push(req);
    return answer(req);
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

async function failure(p: Promise<unknown>): Promise<ApiRequestError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ApiRequestError);
  return e as ApiRequestError;
}

describe('createCordonClient', () => {
  it('sends the bearer token and the extra headers, read again for each request', async () => {
    let csrf = 'one';
    const f = fakeFetch(() => json(200, { name: 'ana', role: 'analyst', csrfToken: null }));
    const api = createCordonClient({ baseUrl: 'http://cordon.test:8080', token: 'tok', fetch: f.fetch, headers: () => ({ 'x-csrf-token': csrf }) });
    expect(await ok(api.GET('/api/auth/me'))).toEqual({ name: 'ana', role: 'analyst', csrfToken: null });
    csrf = 'two';
    await ok(api.GET('/api/auth/me'));
    expect(f.seen.map((r) => [r.url, r.headers.get('authorization'), r.headers.get('x-csrf-token')])).toEqual([
      ['http://cordon.test:8080/api/auth/me', 'Bearer tok', 'one'],
      ['http://cordon.test:8080/api/auth/me', 'Bearer tok', 'two'],
    ]);
  });

  it('fills path parameters (encoded) and the OData query, and sends bodies as JSON', async () => {
    const f = fakeFetch(() => json(200, { '@odata.context': '/api/$metadata#Machines', value: [] }));
    const api = createCordonClient({ baseUrl: 'http://cordon.test', fetch: f.fetch });
    await ok(api.GET('/api/machines', { params: { query: { $filter: "machineTags/any(t: t eq 'prod')", $top: 5 } } }));
    await ok(api.POST('/api/machines/{id}/tags', { params: { path: { id: 'a/b' } }, body: { value: 'prod', action: 'Add' } }));
    const [list, tag] = f.seen;
    expect(new URL(list!.url).searchParams.get('$filter')).toBe("machineTags/any(t: t eq 'prod')");
    expect(new URL(list!.url).searchParams.get('$top')).toBe('5');
    expect(list!.headers.get('authorization')).toBeNull();
    expect(tag!.url).toBe('http://cordon.test/api/machines/a%2Fb/tags');
    expect(tag!.method).toBe('POST');
    expect(await tag!.json()).toEqual({ value: 'prod', action: 'Add' });
  });
});

describe('ok', () => {
  it('throws the code, message and target of the API error body', async () => {
    const body = { error: { code: 'ActiveRequestAlreadyExists', message: 'Action is already in progress', target: 'b7c1' } };
    const api = createCordonClient({ baseUrl: 'http://cordon.test', fetch: fakeFetch(() => json(400, body)).fetch });
    const e = await failure(ok(api.POST('/api/machines/{id}/unisolate', { params: { path: { id: 'b7c1' } }, body: { comment: 'x' } })));
    expect({ status: e.status, code: e.code, message: e.message, target: e.target, name: e.name }).toEqual({ status: 400, code: 'ActiveRequestAlreadyExists', message: 'Action is already in progress', target: 'b7c1', name: 'ApiRequestError' });
  });

  it.each([
    ['an error body without target', 404, JSON.stringify({ error: { code: 'ResourceNotFound', message: 'Machine x was not found' } }), { code: 'ResourceNotFound', message: 'Machine x was not found', target: undefined }],
    ['a body that is not JSON', 502, '<html>Bad gateway</html>', { code: 'HttpError', message: 'HTTP 502', target: undefined }],
    ['an OAuth-style error', 401, JSON.stringify({ error: 'invalid_client', error_description: 'no' }), { code: 'HttpError', message: 'HTTP 401', target: undefined }],
    ['an empty body', 500, '', { code: 'HttpError', message: 'HTTP 500', target: undefined }],
  ])('maps %s', async (_what, status, text, want) => {
    const api = createCordonClient({ baseUrl: 'http://cordon.test', fetch: fakeFetch(() => new Response(text, { status })).fetch });
    const e = await failure(ok(api.GET('/api/machines/{id}', { params: { path: { id: 'x' } } })));
    expect({ code: e.code, message: e.message, target: e.target, status: e.status }).toEqual({ ...want, status });
  });

  it('answers undefined for 204 No Content', async () => {
    const api = createCordonClient({ baseUrl: 'http://cordon.test', fetch: fakeFetch(() => new Response(null, { status: 204 })).fetch });
    await expect(ok(api.POST('/api/auth/signout'))).resolves.toBeUndefined();
  });

  it('reports a server that cannot be reached as status 0 Unreachable, naming the base URL', async () => {
    const refused = fakeFetch(() => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:9') });
    });
    const api = createCordonClient({ baseUrl: 'http://127.0.0.1:9', fetch: refused.fetch });
    const e = await failure(ok(api.GET('/api/health')));
    expect({ status: e.status, code: e.code, message: e.message }).toEqual({ status: 0, code: 'Unreachable', message: 'cannot reach http://127.0.0.1:9: connect ECONNREFUSED 127.0.0.1:9' });
  });

  it('leaves a cancelled request a cancellation', async () => {
    const aborted = fakeFetch(() => {
      throw new DOMException('This operation was aborted', 'AbortError');
    });
    const api = createCordonClient({ baseUrl: 'http://cordon.test', fetch: aborted.fetch });
    await expect(ok(api.GET('/api/health'))).rejects.toMatchObject({ name: 'AbortError' });
  });
});
