import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import pino from 'pino';
import { newHarness, openHarness } from '../support/harness.js';
import { requireServer } from '../support/servers.js';
import { getProvider } from '../../src/providers/registry.js';
import { encodedForms, MASK, scrubber, secretParts } from '../../src/providers/scrub.js';
import type { Provider } from '../../src/providers/types.js';

const unique = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

// A secret with what each encoder treats differently: space, reserved and unreserved marks, quote, backslash, non-ASCII.
const tricky = () => `${unique('Pa ss')}/?:@&=+$,#;!'()*~"\\é€`;

/** Every way the encoders write `value`, computed here independently of the scrubber. */
function spellings(value: string): Record<string, string> {
  const component = encodeURIComponent(value);
  const userInfo = new URL('http://host');
  userInfo.password = value;
  return {
    raw: value,
    encodeURIComponent: component,
    'lower-case hex': component.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    encodeURI: encodeURI(value),
    'form (+ for space)': new URLSearchParams({ v: value }).toString().slice(2),
    'URL user info': userInfo.password,
    JSON: JSON.stringify(value).slice(1, -1),
    'JSON, \\/ and \\u escapes': JSON.stringify(value)
      .slice(1, -1)
      .replace(/\//g, '\\/')
      .replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`),
  };
}

describe('scrubber', () => {
  test('masks a secret in every encoded form', () => {
    const secret = tricky();
    const scrub = scrubber([secret]);
    for (const [name, form] of Object.entries(spellings(secret))) {
      assert.equal(scrub(`before ${form} after`), `before ${MASK} after`, name);
    }
    assert.ok(encodedForms(secret).length >= 6, 'the forms differ for this secret');
  });

  test('a JSON body quoting a secret with " and \\ is scrubbed, and parses after', () => {
    const secret = `${unique('q')}"\\`;
    const body = JSON.stringify({ error: `bad password ${secret}` });
    const scrubbed = scrubber([secret])(body);
    assert.ok(!scrubbed.includes(JSON.stringify(secret).slice(1, -1)));
    assert.equal((JSON.parse(scrubbed) as { error: string }).error, `bad password ${MASK}`);
  });

  test('values shorter than 3 characters are never scrubbed, in any form', () => {
    const scrub = scrubber(['a ', 'é', '']);
    assert.equal(scrub('a b a%20b a+b %C3%A9 é'), 'a b a%20b a+b %C3%A9 é');
    assert.equal(scrubber(['abc'])('xabcx'), `x${MASK}x`);
  });

  test('the longest form wins where one contains another', () => {
    const secret = unique('outer');
    assert.equal(scrubber([secret.slice(0, 8), secret])(`[${secret}]`), `[${MASK}]`);
  });
});

describe('secretParts', () => {
  test('url: the password of a single- or multi-host URI, as written and decoded', () => {
    const password = tricky();
    const written = encodeURIComponent(password);
    for (const uri of [
      `postgres://app:${written}@db.internal:5432/app?sslmode=require`,
      `mongodb://app:${written}@h1.internal:27017,h2.internal:27017,h3.internal/app?replicaSet=rs0`,
      `mongodb+srv://app:${written}@cluster.example.net/app`,
      `rediss://:${written}@cache.internal:6380/0`,
      `amqps://app:${written}@mq.internal/vhost`,
      `mqtts://app:${written}@broker.internal:8883`,
    ]) {
      const parts = secretParts('url', uri);
      assert.ok(parts.includes(written) && parts.includes(password), uri);
    }
    assert.deepEqual(secretParts('url', 'redis://cache.internal:6379/0'), []);
    assert.deepEqual(secretParts('url', 'mongodb://user@h1,h2/app'), []);
  });

  test('url and query: password-like query parameters, encoded and decoded', () => {
    const password = unique('p w');
    const form = new URLSearchParams({ password }).toString().slice('password='.length);
    assert.ok(secretParts('url', `postgresql:///app?host=db.internal&password=${form}`).includes(password));
    const signature = unique('sig/+=');
    const sas = `sv=2024-01-01&ss=b&sig=${encodeURIComponent(signature)}`;
    assert.ok(secretParts('query', sas).includes(signature));
    assert.ok(secretParts('query', `?${sas}`).includes(encodeURIComponent(signature)));
    assert.deepEqual(secretParts('query', 'sv=2024-01-01&ss=b'), []);
  });

  test('azure_connection_string: AccountKey and the SharedAccessSignature with its sig', () => {
    const key = randomBytes(64).toString('base64');
    const signature = randomBytes(32).toString('base64');
    const parts = secretParts(
      'azure_connection_string',
      `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${key};EndpointSuffix=core.windows.net`,
    );
    assert.deepEqual(parts, [key]);
    const sas = `sv=2024-01-01&sig=${encodeURIComponent(signature)}`;
    const withSas = secretParts('azure_connection_string', `BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=${sas}`);
    assert.ok(withSas.includes(sas) && withSas.includes(signature));
  });

  test('service_account_json: private_key, each line of its PEM body, and no client_email', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const file = JSON.stringify({ type: 'service_account', client_email: 'svc@p.iam.gserviceaccount.com', private_key: pem });
    const parts = secretParts('service_account_json', file);
    assert.ok(parts.includes(pem));
    const lines = pem.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));
    for (const line of lines) assert.ok(parts.includes(line), line);
    assert.ok(!parts.includes('svc@p.iam.gserviceaccount.com'));
    assert.deepEqual(secretParts('service_account_json', 'not json'), []);
  });
});

/** A stand-in for a driver that quotes part of its config in an error (the real ones do, in ways a test cannot provoke). */
function quoting(provider: Provider, quote: string): Provider {
  return {
    ...provider,
    connect: () => Promise.reject(new Error(`the server said: ${quote} is wrong`)),
  } as Provider;
}

describe('composite secret fields: their parts are scrubbed from failures', () => {
  const password = tricky();
  const written = encodeURIComponent(password);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const accountKey = randomBytes(64).toString('base64');
  const signature = `${unique('sig')}/+=`;
  // [provider, config, a part of a secret the error quotes on its own]
  const cases: [string, Record<string, unknown>, string][] = [
    ['mongodb', { connection_string: `mongodb://app:${written}@h1.internal,h2.internal/app`, database: 'app' }, password],
    ['mongodb', { connection_string: `mongodb://app:${written}@h1.internal,h2.internal/app`, database: 'app' }, written],
    ['postgresql', { connection_string: `postgres://app:${written}@db.internal/app` }, new URLSearchParams({ p: password }).toString().slice(2)],
    ['redis', { url: `rediss://:${written}@cache.internal:6380` }, password],
    ['rabbitmq', { url: `amqps://app:${written}@mq.internal/vhost` }, JSON.stringify(password).slice(1, -1)],
    ['mqtt', { url: `mqtts://app:${written}@broker.internal`, topic: 'a/#' }, encodeURI(password)],
    ['mysql', { connection_string: `mysql://app:${written}@db.internal/app` }, password],
    ['azure_blob', { container: 'reports', connection_string: `AccountName=acct;AccountKey=${accountKey};EndpointSuffix=core.windows.net` }, accountKey],
    ['azure_blob', { container: 'reports', account_name: 'acct', sas_token: `sv=2024-01-01&sig=${encodeURIComponent(signature)}` }, signature],
    [
      'gcs',
      { bucket: 'reports', credentials_json: JSON.stringify({ type: 'service_account', client_email: 'svc@p.iam.gserviceaccount.com', private_key: pem }) },
      pem.split('\n')[3] ?? '',
    ],
    ['gcs', { bucket: 'reports', credentials_json: JSON.stringify({ client_email: 'svc@p.iam.gserviceaccount.com', private_key: pem }) }, JSON.stringify(pem).slice(1, -1)],
    ['postgresql', { host: 'db.internal', username: 'app', tls_cert: pem.replace(/PRIVATE KEY/g, 'CERTIFICATE'), tls_key: pem }, pem.split('\n')[2] ?? ''],
  ];

  for (const [id, config, part] of cases) {
    test(`${id}: ${Object.keys(config).join(', ')}`, async () => {
      const provider = getProvider(id);
      assert.ok(provider);
      const lines: string[] = [];
      const harness = newHarness({
        poolMax: 1,
        logger: pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) }),
        providers: (wanted) => (wanted === id ? quoting(provider, part) : getProvider(wanted)),
      });
      try {
        const result = await harness.test(id, config);
        assert.equal(result.success, false);
        assert.ok(result.message.includes(MASK), result.message);
        assert.ok(!result.message.includes(part), result.message);
        for (const line of lines) assert.ok(!line.includes(part), line);
      } finally {
        await harness.close();
      }
    });
  }
});

describe('a real connection failure quoting an encoded secret is scrubbed', () => {
  // PostgreSQL answers a missing database with its name; the name carries each encoded form of the password
  // (short enough for PostgreSQL's 63-byte names, which would cut it).
  test('postgresql: database "<form of the password>" does not exist', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const password = `${randomBytes(3).toString('hex')} é/+&"`;
    const harness = openHarness(t, { poolMax: 1 });
    for (const [name, form] of Object.entries(spellings(password))) {
      const uri = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:5432/${encodeURIComponent(form)}`;
      const result = await harness.test('postgresql', { connection_string: uri });
      assert.equal(result.error_code, 'database_not_found', `${name}: ${result.message}`);
      assert.equal(result.message, `postgresql: database "${MASK}" does not exist`, name);
    }
  });
});
