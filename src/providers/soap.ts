import { z } from 'zod';
import { httpUrl, networkFields, networkIssues, operation, togetherIssues } from './_shared/common-fields.js';
import { secret, type Provider } from './types.js';

const config = z.strictObject({
  wsdl_url: httpUrl.describe('URL of the service WSDL, fetched on connect.'),
  endpoint: httpUrl.optional().describe("Service address to call instead of the one in the WSDL; the WSDL's when unset."),
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
      z.strictObject({
        method: z.string().min(1).describe('Method name from the WSDL (Service.Port.Method or Method).'),
        args: z.record(z.string(), z.unknown()).default({}).describe('Arguments of the method, by name.'),
      }),
      // writes() sees only the input, not config.read_methods: the soap driver checks read_methods at execute
      // time and refuses an unlisted method in read mode. Until then every call counts as a write.
      () => true,
    ),
  },
  defaultOperation: 'call',
  classify: () => undefined,
};

export default soap;
