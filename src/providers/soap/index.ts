import type { Client as SoapClient } from 'soap';
import { z } from 'zod';
import { PatchbayError } from '../../errors.js';
import { HttpTimeoutError, type HttpClient } from '../../net/http-client.js';
import { httpUrl, networkFields, networkIssues, operation, togetherIssues } from '../_shared/common-fields.js';
import { apiHttpClient, CHECK_MAX_BYTES } from '../_shared/http-api.js';
import { assertWsdlAnswer, SoapAnswerTooLarge, SoapHttp, type SoapExchangeOptions } from '../_shared/http-soap.js';
import { scrubDeep, scrubber } from '../scrub.js';
import { argsIssues } from './args.js';
import { destination, secret, type CallContext, type OperationResult, type Provider, type Session } from '../types.js';

const config = z.strictObject({
  wsdl_url: destination(httpUrl.describe('URL of the service WSDL, fetched on connect.')),
  endpoint: destination(httpUrl.optional().describe("Service address to call instead of the one in the WSDL; the WSDL's when unset.")),
  username: z.string().min(1).optional().describe('User name, sent as HTTP basic auth or a WS-Security UsernameToken.'),
  password: secret(z.string().optional().describe('Password of username.')),
  ws_security: z
    .boolean()
    .default(false)
    .describe('Send username and password as a WS-Security UsernameToken instead of HTTP basic auth.'),
  read_methods: z
    .array(z.string().min(1))
    .default([])
    .describe('WSDL methods allowed in read mode (they only read); every other method is a write.'),
  ...networkFields,
});

type SoapConfig = z.output<typeof config>;

const callInput = z.strictObject({
  method: z.string().min(1).describe('Method name from the WSDL (Service.Port.Method or Method).'),
  args: z
    .record(z.string(), z.unknown())
    .default({})
    .describe(
      "The method's input parts by name, as the WSDL declares them (nested elements as objects, repeated ones as arrays); " +
        'the SOAP library keys $xml, $value, _xml and attributes are refused.',
    ),
});

type CallInput = z.output<typeof callInput>;

const soap: Provider<typeof config> = {
  id: 'soap',
  type: 'api',
  description: 'SOAP web services described by a WSDL, called one method at a time.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...togetherIssues(value, ['username', 'password']),
    ...(value.ws_security && value.username === undefined
      ? [{ path: 'username', message: 'required when ws_security is true' }]
      : []),
  ],
  operations: {
    call: operation(
      'Call one WSDL method with its arguments; the SOAP response comes back as JSON.',
      callInput,
      (input, settings) => !isReadMethod(input.method, (settings.read_methods as string[] | undefined) ?? []),
    ),
  },
  defaultOperation: 'call',

  async connect(settings, ctx) {
    const library = await import('soap');
    const client = apiHttpClient(settings, ctx);
    const authorization = settings.username !== undefined && !settings.ws_security ? basic(settings) : undefined;
    const http = new SoapHttp(client, { authorization, signal: ctx.signal });
    try {
      const soapClient = await library.createClientAsync(settings.wsdl_url, {
        httpClient: http,
        // soap caches WSDLs process-wide by URL by default: another connector's credentials would not be checked.
        disableCache: true,
        endpoint: settings.endpoint,
        wsdl_options: { overrideImportLocation: httpImportsOnly },
      });
      if (settings.ws_security) {
        // Through the prototype: a WSDL method of the same name replaces the client's own.
        const token = new library.WSSecurity(settings.username ?? '', settings.password ?? '', { passwordType: 'PasswordText' });
        library.Client.prototype.setSecurity.call(soapClient, token);
      }
      return new SoapSession(soapClient, http, client, settings, authorization);
    } catch (error) {
      client.close();
      throw error;
    }
  },

  classify(error) {
    if (error instanceof HttpTimeoutError) return 'timeout';
    if (!(error instanceof Error)) return undefined;
    const { root, response } = error as { root?: { Envelope?: { Body?: { Fault?: unknown } } }; response?: { status?: unknown } };
    const status = typeof response?.status === 'number' ? response.status : undefined;
    // A fault is the service's answer (upstream_error, its fault string the message), unless it refuses the caller.
    if (root?.Envelope?.Body?.Fault !== undefined) {
      return status === 401 || status === 403 || AUTH_FAULT.test(error.message) ? 'auth_failed' : 'upstream_error';
    }
    if (status === 401 || status === 403) return 'auth_failed';
    if (status === 404) return 'upstream_not_found';
    return status === undefined ? undefined : 'upstream_error';
  },
};

export default soap;

// WS-Security 1.1 fault codes for a token the service refuses, and the one soap's own server sends.
const AUTH_FAULT = /FailedAuthentication|InvalidSecurityToken|FailedCheck|AuthenticationFailure/;

/** A read_methods entry names a method (any port) or one qualified Service.Port.Method. */
function isReadMethod(method: string, readMethods: readonly string[]): boolean {
  return readMethods.includes(method) || (method.includes('.') && readMethods.includes(method.slice(method.lastIndexOf('.') + 1)));
}

/** soap resolves a WSDL's imports against its URL; one that names a local file or another scheme is refused. */
function httpImportsOnly(location: string): string {
  if (!/^https?:\/\//i.test(location)) {
    throw new PatchbayError('upstream_error', `the WSDL imports ${location.slice(0, 80)}, which is not an http(s) URL`);
  }
  return location;
}

const basic = ({ username = '', password = '' }: SoapConfig): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

type Invoke = (args: Record<string, unknown>, options: SoapExchangeOptions) => Promise<unknown>;

/** A WSDL method: how to call it, and its input as the library describes it (what its args may name). */
interface Method {
  invoke: Invoke;
  input: unknown;
}

class SoapSession implements Session {
  private readonly methods = new Map<string, Method>();
  /** The WSDL fetched on connect is the first ping's round trip. */
  private fresh = true;
  private readonly scrubDerived;

  constructor(
    client: SoapClient,
    private readonly http: SoapHttp,
    private readonly httpClient: HttpClient,
    private readonly settings: SoapConfig,
    authorization: string | undefined,
  ) {
    // Every method as Service.Port.Method, and by its own name (the first port that has it).
    const services = client.wsdl.describeServices() as Record<string, Record<string, Record<string, { input?: unknown }>>>;
    for (const [service, ports] of Object.entries(services)) {
      for (const [port, methods] of Object.entries(ports)) {
        for (const [name, described] of Object.entries(methods)) {
          const method: unknown = client[service]?.[port]?.[name];
          if (typeof method !== 'function') continue;
          const invoke: Invoke = (args, options) =>
            new Promise((resolve, reject) => {
              method(args, (error: unknown, result: unknown) => (error ? reject(error) : resolve(result)), options);
            });
          const entry = { invoke, input: described.input };
          this.methods.set(`${service}.${port}.${name}`, entry);
          if (!this.methods.has(name)) this.methods.set(name, entry);
        }
      }
    }
    // The harness scrubs the password; the Basic header derived from it is this session's to mask.
    this.scrubDerived = scrubber(authorization ? [authorization.slice('Basic '.length)] : []);
  }

  async ping(signal: AbortSignal): Promise<string> {
    if (!this.fresh) {
      const url = new URL(this.settings.wsdl_url);
      assertWsdlAnswer(await this.http.get(url, signal, CHECK_MAX_BYTES), url);
    }
    this.fresh = false;
    const names = [...this.methods.keys()].filter((name) => !name.includes('.'));
    const listed = names.slice(0, 10).join(', ') + (names.length > 10 ? ', …' : '');
    return `WSDL lists ${names.length} operation${names.length === 1 ? '' : 's'}${names.length > 0 ? `: ${listed}` : ''}`;
  }

  async execute(_operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    const { method, args } = input as CallInput;
    const found = this.methods.get(method);
    if (!found) {
      throw new PatchbayError('validation_failed', `the WSDL has no method ${method}`, {
        errors: [{ path: 'method', message: 'not a method of the WSDL' }],
      });
    }
    // Read mode trusts the method's name: args must not be able to send another body under it.
    const errors = argsIssues(args, found.input, method);
    if (errors.length > 0) {
      throw new PatchbayError('validation_failed', `args are not the input of ${method} as the WSDL declares it`, { errors });
    }
    const cut: { text?: string } = {};
    try {
      const result = await found.invoke(args, { signal: call.signal, maxBytes: call.limits.maxBytes, timeoutMs: call.limits.timeoutMs, cut });
      return { data: { result: scrubDeep(result ?? null, this.scrubDerived) }, truncated: false };
    } catch (error) {
      // A cut envelope cannot be parsed: the caller gets the text that fitted in max_bytes.
      if (error instanceof SoapAnswerTooLarge) return { data: { result: null, raw: cut.text ?? '' }, truncated: true };
      throw error;
    }
  }

  async close(): Promise<void> {
    this.httpClient.close();
  }
}
