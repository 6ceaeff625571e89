// A certified OpenID Provider (oidc-provider) configured as tower-auth's interop tests need it.
//
//   node server.js [--port N]        (or PORT=N; 0 or unset = a free port)
//
// Listens on 127.0.0.1 only, prints `READY http://127.0.0.1:PORT` (the issuer identifier) on
// standard output once it accepts requests, and runs until killed.
//
// What it issues (client credentials grant; the RFC 8707 `resource` parameter picks the audience,
// one of AUDIENCES below):
//
//   client          secret                  access token
//   interop-jwt     interop-jwt-secret      RFC 9068 JWT (`typ: at+jwt`), RS256
//   interop-opaque  interop-opaque-secret   opaque, for RFC 7662 introspection
//   interop-rs      interop-rs-secret       none: the resource server's credentials at the
//                                           introspection endpoint
//
// Scopes `orders:read orders:write admin`; a token carries the requested ones. Introspection and
// revocation (RFC 7009) are on; DPoP (RFC 9449) binds a token when the token request carries a
// proof. Every client authenticates with `client_secret_basic`.
//
// Key rotation, as a real issuer does it, through two fixture-only routes:
//   POST /fixture/keys/rotate  a new signing key goes first in the JWKS and signs from now on; the
//                              old keys stay published, so tokens they signed still verify.
//   POST /fixture/keys/retire  every key but the current signing key leaves the JWKS.
// Both answer `{"kids": [...]}` (the published key ids, the signing key first). The provider is
// re-created with the new key set; tokens live in the process-wide store and survive it.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

/** Audiences the provider issues tokens for (RFC 8707 resource indicators). */
const AUDIENCES = new Set([
  'https://api.tower-auth.test',
  'https://api.tower-auth.test/v1',
  'https://interop.tower-auth.test',
]);
const SCOPE = 'orders:read orders:write admin';
const TOKEN_TTL = 3600;

const CLIENTS = [
  { client_id: 'interop-jwt', client_secret: 'interop-jwt-secret', scope: SCOPE, format: 'jwt' },
  { client_id: 'interop-opaque', client_secret: 'interop-opaque-secret', scope: SCOPE, format: 'opaque' },
  { client_id: 'interop-rs', client_secret: 'interop-rs-secret' },
];

function port() {
  const i = process.argv.indexOf('--port');
  const raw = i > 0 ? process.argv[i + 1] : process.env.PORT;
  const value = raw === undefined || raw === '' ? 0 : Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`invalid port ${JSON.stringify(raw)}`);
  }
  return value;
}

/** A fresh RS256 signing key as a private JWK. */
function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
}

function formatFor(clientId) {
  return CLIENTS.find((c) => c.client_id === clientId)?.format;
}

function configuration(keys) {
  return {
    clients: CLIENTS.map(({ client_id, client_secret, scope }) => ({
      client_id,
      client_secret,
      scope,
      grant_types: scope ? ['client_credentials'] : [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: ['openid', ...SCOPE.split(' ')],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        async getResourceServerInfo(ctx, resourceIndicator, client) {
          const format = formatFor(client.clientId);
          if (!AUDIENCES.has(resourceIndicator) || !format) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: SCOPE,
            audience: resourceIndicator,
            accessTokenTTL: TOKEN_TTL,
            accessTokenFormat: format,
            ...(format === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
          };
        },
      },
    },
    ttl: { ClientCredentials: TOKEN_TTL },
  };
}

let keys = [newSigningKey()];
let handler;
let issuer;

function createProvider() {
  const provider = new Provider(issuer, configuration(keys));
  handler = provider.callback();
}

function reply(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function fixtureRoute(req, res) {
  if (req.method !== 'POST') {
    reply(res, 405, { error: 'method not allowed' });
    return;
  }
  if (req.url === '/fixture/keys/rotate') {
    keys = [newSigningKey(), ...keys];
  } else if (req.url === '/fixture/keys/retire') {
    keys = keys.slice(0, 1);
  } else {
    reply(res, 404, { error: 'not found' });
    return;
  }
  createProvider();
  reply(res, 200, { kids: keys.map((k) => k.kid) });
}

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/fixture/')) {
    fixtureRoute(req, res);
  } else {
    handler(req, res);
  }
});

server.listen(port(), '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  createProvider();
  process.stdout.write(`READY ${issuer}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
