import { randomBytes } from 'node:crypto';
import http from 'node:http';
import zlib from 'node:zlib';
import { TcpStub } from './tcp-stub.js';

/**
 * The peers of the api providers' tests (rest, graphql, soap): HTTP servers each test file starts on
 * 127.0.0.1 at a free port (top-level await), with state the tests read over their own channel (`items`,
 * `requests`), and a `restart()` that drops every connection and listens again on the same port.
 */

export interface HttpPeer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  host: string;
  port: number;
  server: http.Server;
  /** Every request seen, oldest first. */
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  /** Stops, closing every connection, and listens again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void | Promise<void>;

/** An HTTP server on 127.0.0.1 at a free port; `setup` may attach listeners of its own (soap.listen). */
async function startHttpPeer(handler: Handler | undefined, setup?: (server: http.Server) => void): Promise<HttpPeer> {
  const requests: HttpPeer['requests'] = [];
  const server = http.createServer();
  const listener = new TcpStub(server);
  server.prependListener('request', (req: http.IncomingMessage) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
  });
  if (handler) {
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        Promise.resolve(handler(req, res, Buffer.concat(chunks).toString('utf8'))).catch((error: unknown) => {
          res.statusCode = 500;
          res.end(String(error));
        });
      });
    });
  }
  setup?.(server);
  await listener.start();
  return {
    origin: `http://127.0.0.1:${listener.port}`,
    host: listener.host,
    port: listener.port,
    server,
    requests,
    restart: async () => void (await listener.restart()),
    stop: async () => void (await listener.stop()),
  };
}

const json = (res: http.ServerResponse, status: number, value: unknown, headers: http.OutgoingHttpHeaders = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', server: 'pb-test-peer/1.0', ...headers });
  res.end(JSON.stringify(value));
};

const bearerOf = (req: http.IncomingMessage) => /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];

const basicOf = (req: http.IncomingMessage) => {
  const encoded = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (encoded === undefined) return undefined;
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
};

/** A peer that answers each path it knows with a fixed body (a WSDL that imports a file, a stray document). */
export function startStaticPeer(routes: Record<string, { type: string; body: string }>): Promise<HttpPeer> {
  return startHttpPeer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://peer').pathname;
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) return json(res, 404, { error: 'not found' });
    res.writeHead(200, { 'content-type': route.type });
    res.end(route.body);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// REST

export interface RestPeerOptions {
  /** Whether a request under /api may pass; refused with 401 otherwise. @default everything passes */
  allow?(req: http.IncomingMessage, url: URL): boolean;
  /** The OAuth2 client the token endpoint (POST /oauth/token) accepts. */
  oauth2?: { clientId: string; clientSecret: string; lifetimeS: number };
}

export interface RestPeer extends HttpPeer {
  /** The API's base URL: `<origin>/api`. */
  baseUrl: string;
  /** The items resource (GET, POST, PUT, DELETE /api/items). */
  items: Map<string, unknown>;
  /** Token requests the OAuth2 endpoint answered with a token. */
  readonly tokensIssued: number;
  /** Whether a bearer token is one the token endpoint issued and has not revoked. */
  validToken(token: string | undefined): boolean;
  /** Revokes every token issued so far: the API answers 401 to them. */
  revokeTokens(): void;
}

/**
 * A small HTTP API under /api: `/` and `/health`, an items resource, `/echo` (the request as JSON), `/sleep/<ms>`,
 * `/status/<code>`, `/bytes/<n>` (n bytes of text), `/binary`, `/gzip`, `/redirect?to=<url>&status=<3xx>`;
 * `/admin` lies outside /api; POST /oauth/token issues OAuth2 client-credentials tokens.
 */
export async function startRestPeer(options: RestPeerOptions = {}): Promise<RestPeer> {
  const items = new Map<string, unknown>();
  const tokens = new Set<string>();
  let tokensIssued = 0;
  const handler: Handler = (req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://peer');
    const path = url.pathname;
    if (path === '/oauth/token' && req.method === 'POST') return tokenEndpoint(req, res, body);
    if (path === '/admin') return json(res, 200, { admin: true });
    if (!(path === '/api' || path.startsWith('/api/'))) return json(res, 404, { error: 'not found' });
    if (options.allow && !options.allow(req, url)) return json(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
    const route = path.slice('/api'.length) || '/';
    if (route === '/' || route === '/health') return json(res, 200, { service: 'rest-peer', ok: true });
    const sleep = /^\/sleep\/(\d+)$/.exec(route);
    if (sleep) {
      setTimeout(() => json(res, 200, { slept: Number(sleep[1]) }), Number(sleep[1])).unref();
      return;
    }
    if (route === '/echo') {
      return json(res, 200, { method: req.method, path, query: Object.fromEntries(url.searchParams), headers: req.headers, body });
    }
    if (route === '/items' && req.method === 'GET') return json(res, 200, [...items.values()]);
    if (route === '/items' && req.method === 'POST') {
      const item = JSON.parse(body) as { id: string };
      items.set(item.id, item);
      return json(res, 201, item);
    }
    const itemMatch = /^\/items\/([^/]+)$/.exec(route);
    if (itemMatch) {
      const id = decodeURIComponent(itemMatch[1] ?? '');
      if (req.method === 'DELETE') {
        items.delete(id);
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'PUT' || req.method === 'PATCH') {
        items.set(id, JSON.parse(body) as unknown);
        return json(res, 200, items.get(id));
      }
      return items.has(id) ? json(res, 200, items.get(id)) : json(res, 404, { error: `no item ${id}` });
    }
    const status = /^\/status\/(\d{3})$/.exec(route);
    if (status) return json(res, Number(status[1]), { status: Number(status[1]) });
    const bytes = /^\/bytes\/(\d+)$/.exec(route);
    if (bytes) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('x'.repeat(Number(bytes[1])));
      return;
    }
    if (route === '/binary') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from([0, 1, 2, 254, 255]));
      return;
    }
    if (route === '/gzip') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(zlib.gzipSync(JSON.stringify({ compressed: true })));
      return;
    }
    if (route === '/redirect') {
      res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: url.searchParams.get('to') ?? '/api/' });
      res.end();
      return;
    }
    return json(res, 404, { error: 'no such route' });
  };

  function tokenEndpoint(req: http.IncomingMessage, res: http.ServerResponse, body: string) {
    const client = basicOf(req);
    const expected = options.oauth2;
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials') return json(res, 400, { error: 'unsupported_grant_type' });
    if (
      !expected ||
      decodeURIComponent(client?.username ?? '') !== expected.clientId ||
      decodeURIComponent(client?.password ?? '') !== expected.clientSecret
    ) {
      return json(res, 401, { error: 'invalid_client' });
    }
    const token = `tok-${randomBytes(8).toString('hex')}`;
    tokens.add(token);
    tokensIssued += 1;
    return json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: expected.lifetimeS, scope: form.get('scope') });
  }

  const base = await startHttpPeer(handler);
  return {
    ...base,
    baseUrl: `${base.origin}/api`,
    items,
    get tokensIssued() {
      return tokensIssued;
    },
    validToken: (token) => token !== undefined && tokens.has(token),
    revokeTokens: () => tokens.clear(),
  };
}

/** `allow` for a peer that takes one bearer token. */
export const bearerAllow = (token: string) => (req: http.IncomingMessage) => bearerOf(req) === token;

export { bearerOf };

// ---------------------------------------------------------------------------------------------------------------
// GraphQL

export interface GraphqlPeer extends HttpPeer {
  /** `<origin>/graphql` */
  endpoint: string;
  items: Map<string, { id: string; name: string }>;
}

const SCHEMA = `
  type Item { id: ID!, name: String! }
  type Query {
    hello(name: String): String!
    item(id: ID!): Item
    items(count: Int): [Item!]!
    header(name: String!): String
  }
  type Mutation {
    addItem(id: ID!, name: String!): Item!
    removeItem(id: ID!): Boolean!
  }
`;

/**
 * A GraphQL server (graphql-http) at /graphql over an items store: `hello`, `item`, `items(count)` (count
 * generated items when given), `header(name)` (a request header, to see what was sent); mutations `addItem`
 * and `removeItem`. Requests need `Authorization: Bearer <token>` when a token is given.
 */
export async function startGraphqlPeer(options: { token?: string } = {}): Promise<GraphqlPeer> {
  const { buildSchema } = await import('graphql');
  const { createHandler } = await import('graphql-http/lib/use/http');
  const items = new Map<string, { id: string; name: string }>();
  const rootValue = {
    hello: ({ name }: { name?: string }) => `hello ${name ?? 'world'}`,
    item: ({ id }: { id: string }) => items.get(id) ?? null,
    items: ({ count }: { count?: number }) =>
      count === undefined ? [...items.values()] : Array.from({ length: count }, (_, i) => ({ id: String(i), name: `item ${i}` })),
    header: ({ name }: { name: string }, context: { headers: http.IncomingHttpHeaders }) => {
      const value = context.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : (value ?? null);
    },
    addItem: ({ id, name }: { id: string; name: string }) => {
      items.set(id, { id, name });
      return { id, name };
    },
    removeItem: ({ id }: { id: string }) => items.delete(id),
  };
  const graphqlHandler = createHandler({
    schema: buildSchema(SCHEMA),
    rootValue,
    context: (req) => ({ headers: req.raw.headers }),
  });
  const handler: Handler = (req, res) => {
    if (new URL(req.url ?? '/', 'http://peer').pathname !== '/graphql') return json(res, 404, { error: 'not found' });
    if (options.token !== undefined && bearerOf(req) !== options.token) {
      return json(res, 401, { errors: [{ message: 'unauthorized' }] }, { 'www-authenticate': 'Bearer' });
    }
    return graphqlHandler(req, res);
  };
  // graphql-http reads the body itself: the request must reach it unread.
  const base = await startHttpPeer(undefined, (server) => server.on('request', handler));
  return { ...base, endpoint: `${base.origin}/graphql`, items };
}

// ---------------------------------------------------------------------------------------------------------------
// SOAP

const NS = 'http://patchbay.test/items';

/** A field's type: an XSD type name, or the fields of a nested element (optional, as a filter is). */
type FieldType = string | { [field: string]: FieldType };

function element(name: string, fields: Record<string, FieldType>, repeated: string[] = [], optional = false): string {
  const parts = Object.entries(fields)
    .map(([field, type]) =>
      typeof type === 'string'
        ? `<xsd:element name="${field}" type="${type}"${repeated.includes(field) ? ' minOccurs="0" maxOccurs="unbounded"' : ''}/>`
        : element(field, type, [], true),
    )
    .join('');
  const occurs = optional ? ' minOccurs="0"' : '';
  return `<xsd:element name="${name}"${occurs}><xsd:complexType><xsd:sequence>${parts}</xsd:sequence></xsd:complexType></xsd:element>`;
}

const METHODS: Record<string, { input: Record<string, FieldType>; output: Record<string, string>; repeated?: string[] }> = {
  GetItem: { input: { id: 'xsd:string' }, output: { id: 'xsd:string', name: 'xsd:string' } },
  ListItems: { input: { count: 'xsd:int', filter: { prefix: 'xsd:string' } }, output: { item: 'xsd:string' }, repeated: ['item'] },
  AddItem: { input: { id: 'xsd:string', name: 'xsd:string' }, output: { ok: 'xsd:boolean' } },
  Explode: { input: { message: 'xsd:string' }, output: { ok: 'xsd:boolean' } },
};

/** A document/literal WSDL of ItemService (one port, ItemPort) at `address`. */
export function itemsWsdl(address: string): string {
  const types = Object.entries(METHODS)
    .map(([name, m]) => element(`${name}Request`, m.input) + element(`${name}Response`, m.output, m.repeated))
    .join('');
  const messages = Object.keys(METHODS)
    .map(
      (name) =>
        `<message name="${name}Input"><part name="body" element="tns:${name}Request"/></message>` +
        `<message name="${name}Output"><part name="body" element="tns:${name}Response"/></message>`,
    )
    .join('');
  const portOps = Object.keys(METHODS)
    .map((name) => `<operation name="${name}"><input message="tns:${name}Input"/><output message="tns:${name}Output"/></operation>`)
    .join('');
  const bindingOps = Object.keys(METHODS)
    .map(
      (name) =>
        `<operation name="${name}"><soap:operation soapAction="${NS}/${name}"/>` +
        '<input><soap:body use="literal"/></input><output><soap:body use="literal"/></output></operation>',
    )
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<definitions name="ItemService" targetNamespace="${NS}" xmlns="http://schemas.xmlsoap.org/wsdl/"
  xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="${NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <types><xsd:schema targetNamespace="${NS}" elementFormDefault="qualified">${types}</xsd:schema></types>
  ${messages}
  <portType name="ItemPortType">${portOps}</portType>
  <binding name="ItemBinding" type="tns:ItemPortType"><soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>${bindingOps}</binding>
  <service name="ItemService"><port name="ItemPort" binding="tns:ItemBinding"><soap:address location="${address}"/></port></service>
</definitions>`;
}

export interface SoapPeer extends HttpPeer {
  /** `<origin>/soap?wsdl` */
  wsdlUrl: string;
  items: Map<string, string>;
  /** The operations the service ran, oldest first (whatever the request claimed to call). */
  ran: string[];
}

/**
 * ItemService, served by the soap library itself at /soap: GetItem (a fault for a missing id), ListItems
 * (`count` generated names, `filter.prefix` in place of "item" when given), AddItem, and Explode (always a fault carrying `message`). `basic` guards every
 * request, the WSDL included, with HTTP basic auth; `wsSecurity` asks each call for a UsernameToken; `byBody`
 * runs the operation the body's element names, ignoring SOAPAction (as JAX-WS and SOAP 1.2 services do).
 */
export async function startSoapPeer(
  options: {
    basic?: { username: string; password: string };
    wsSecurity?: { username: string; password: string };
    byBody?: boolean;
  } = {},
): Promise<SoapPeer> {
  const soap = await import('soap');
  const items = new Map<string, string>();
  const ran: string[] = [];
  const fault = (faultcode: string, faultstring: string) => ({ Fault: { faultcode, faultstring, statusCode: 500 } });
  const services = {
    ItemService: {
      ItemPort: {
        GetItem: ({ id }: { id: string }) => {
          ran.push('GetItem');
          const name = items.get(id);
          if (name === undefined) throw fault('soap:Client', `no item ${id}`);
          return { id, name };
        },
        ListItems: (args: { count?: string; filter?: { prefix?: string } } | null) => {
          ran.push('ListItems');
          const { count, filter } = args ?? {};
          return { item: Array.from({ length: Number(count) }, (_, i) => `${filter?.prefix ?? 'item'} ${i}`) };
        },
        AddItem: ({ id, name }: { id: string; name: string }) => {
          ran.push('AddItem');
          items.set(id, name);
          return { ok: true };
        },
        Explode: ({ message }: { message: string }) => {
          ran.push('Explode');
          throw fault('soap:Server', message);
        },
      },
    },
  };
  const base = await startHttpPeer(undefined, (server) => {
    // Answers what soap's listener does not claim (a path other than /soap).
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!(req.url ?? '').startsWith('/soap')) json(res, 404, { error: 'not found' });
    });
  });
  // The WSDL's address needs the port, known once listening; soap.listen then takes over the server's listeners.
  let listening!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => (listening = (error) => (error ? reject(error) : resolve())));
  const soapServer = soap.listen(base.server, { path: '/soap', services, xml: itemsWsdl(`${base.origin}/soap`), callback: listening });
  // soap replaces the listeners once its WSDL is parsed, calling the earlier ones only for other paths: the
  // request log of /soap goes in front of its listener after that.
  await ready;
  base.server.prependListener('request', (req: http.IncomingMessage) => {
    if ((req.url ?? '').startsWith('/soap')) base.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    // soap's server picks the method by SOAPAction when there is one, else by the body's element.
    if (options.byBody) delete req.headers.soapaction;
  });
  const { basic, wsSecurity } = options;
  if (basic) {
    soapServer.authorizeConnection = (req: http.IncomingMessage, res?: http.ServerResponse) => {
      const given = basicOf(req);
      if (given?.username === basic.username && given.password === basic.password) return true;
      res?.writeHead(401, { 'www-authenticate': 'Basic realm="soap"' });
      return false;
    };
  }
  if (wsSecurity) {
    soapServer.authenticate = (security: { UsernameToken?: { Username?: unknown; Password?: unknown } } | undefined) => {
      const token = security?.UsernameToken;
      const password = token?.Password as { $value?: unknown } | string | undefined;
      const text = typeof password === 'string' ? password : password?.$value;
      return token?.Username === wsSecurity.username && text === wsSecurity.password;
    };
  }
  return { ...base, wsdlUrl: `${base.origin}/soap?wsdl`, items, ran };
}
