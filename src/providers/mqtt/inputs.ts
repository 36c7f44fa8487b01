import { z } from 'zod';
import { connectionUrlField, consumeFields, hostField, messageFields, messageHeaders, networkFields, passwordField, portField, usernameField } from '../_shared/common-fields.js';
import { boundary } from '../types.js';

export const URL_SCHEMES = ['mqtt', 'mqtts'] as const;

// A filter may hold + (one level) and # (the rest, last only); a topic to publish to holds neither.
const topicFilter = z
  .string()
  .min(1)
  .refine((value) => value.split('/').every((level, i, all) => isFilterLevel(level, i === all.length - 1)), {
    message: 'must be an MQTT topic filter (+ for one level, # only as the last level)',
  });

export const config = z.strictObject({
  host: hostField('MQTT broker'),
  port: portField('MQTT broker', 1883),
  username: usernameField('to connect as'),
  password: passwordField('of username'),
  tls: z.boolean().default(false).describe('Connect over TLS (see the tls_* fields); implied by mqtts://.'),
  url: connectionUrlField(
    URL_SCHEMES,
    'mqtt://user:password@host:port or mqtts://…; an alternative to host, port, username and password.',
  ),
  client_id: z
    .string()
    .min(1)
    .optional()
    .describe('MQTT client id; a unique patchbay-… id per connection when unset (a broker drops duplicates).'),
  topic: boundary(
    'mqtt_filter',
    topicFilter
      .optional()
      .describe(
        'Topic filter this connector is limited to (wildcards allowed; scope_denied outside it). ' +
          'An attachment may only narrow it to a filter it matches.',
      ),
  ),
  ...networkFields,
});

export type MqttConfig = z.output<typeof config>;

export const publishInput = z.strictObject({
  topic: z
    .string()
    .min(1)
    .regex(/^[^+#]*$/, { message: 'must not contain the wildcards + or #' })
    .optional()
    .describe("Topic; defaults to the connector's topic when that holds no wildcard."),
  ...messageFields,
  headers: messageHeaders.describe('MQTT 5 user properties.'),
  qos: z
    .union([z.literal(0), z.literal(1), z.literal(2)])
    .default(0)
    .describe('Quality of service: 0, 1 or 2 (1 and 2 are confirmed by the broker, which reports a refusal).'),
  retain: z.boolean().default(false).describe('Ask the broker to keep the message for later subscribers.'),
});

export const consumeInput = z.strictObject({
  topic: topicFilter.optional().describe("Topic filter; defaults to the connector's topic."),
  ...consumeFields,
});

function isFilterLevel(level: string, last: boolean): boolean {
  return level === '+' || (level === '#' && last) || !/[+#]/.test(level);
}
