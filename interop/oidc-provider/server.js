// A certified OpenID Provider (oidc-provider) configured as tower-auth's interop tests need it.
//
//   node server.js [--port N] [--client-ca FILE]   (or PORT=N; 0 or unset = a free port)
//
// Listens on 127.0.0.1 only, prints `READY http://127.0.0.1:PORT` (the issuer identifier) on
// standard output once it accepts requests, and runs until killed.
//
// What it issues (client credentials grant; the RFC 8707 `resource` parameter picks the audience,
// one of AUDIENCES below):
//
//   client               secret, or certificate subject   access token
//   interop-jwt          interop-jwt-secret               RFC 9068 JWT (`typ: at+jwt`), RS256
//   interop-opaque       interop-opaque-secret            opaque, for RFC 7662 introspection
//   interop-rs           interop-rs-secret                none: the resource server's credentials
//                                                         at the introspection endpoint
//   interop-mtls-jwt     CN=interop-mtls-jwt              RFC 9068 JWT bound to the certificate
//                                                         (`cnf.x5t#S256`, RFC 8705 §3)
//   interop-mtls-opaque  CN=interop-mtls-opaque           opaque, bound to the certificate
//                                                         (top-level `cnf` when introspected)
//
// Scopes `orders:read orders:write admin`; a token carries the requested ones. Introspection and
// revocation (RFC 7009) are on; DPoP (RFC 9449) binds a token when the token request carries a
// proof. The secret clients authenticate with `client_secret_basic`; the `interop-mtls-*` clients
// with `tls_client_auth` (RFC 8705 §2.1, the PKI method: the certificate chains to the client CA and
// its subject DN is the registered one; `client_id` in the form body) and always get
// certificate-bound tokens (`tls_client_certificate_bound_access_tokens`).
//
// Client certificates, as behind a TLS-terminating proxy: the provider speaks plain HTTP, so it
// reads the client certificate of a request from the RFC 9440 `Client-Cert` field (`:<base64
// DER>:`), the way a backend behind a terminator that requested the certificate does. The chain is
// checked here against `--client-ca FILE` (PEM; the terminator's trust anchor), together with the
// validity period; without `--client-ca` no certificate authenticates. Every peer is trusted to set
// the field: a fixture on 127.0.0.1 only, never a deployment pattern (RFC 9440 §4).
//
// Key rotation, as a real issuer does it, through two fixture-only routes:
//   POST /fixture/keys/rotate  a new signing key goes first in the JWKS and signs from now on; the
//                              old keys stay published, so tokens they signed still verify.
//   POST /fixture/keys/retire  every key but the current signing key leaves the JWKS.
// Both answer `{"kids": [...]}` (the published key ids, the signing key first). The provider is
// re-created with the new key set; tokens live in the process-wide store and survive it.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
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
  { client_id: 'interop-mtls-jwt', subject_dn: 'CN=interop-mtls-jwt', scope: SCOPE, format: 'jwt' },
  { client_id: 'interop-mtls-opaque', subject_dn: 'CN=interop-mtls-opaque', scope: SCOPE, format: 'opaque' },
];

/** The value of a command-line option `name VALUE`, or undefined. */
function option(name) {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined) throw new Error(`${name} needs a value`);
  return value;
}

function port() {
  const raw = option('--port') ?? process.env.PORT;
  const value = raw === undefined || raw === '' ? 0 : Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`invalid port ${JSON.stringify(raw)}`);
  }
  return value;
}

/** The CA client certificates must chain to (`--client-ca FILE`, one PEM certificate), or undefined. */
function clientCa() {
  const file = option('--client-ca');
  if (file === undefined) return undefined;
  const ca = new crypto.X509Certificate(fs.readFileSync(file));
  if (!ca.ca) throw new Error(`--client-ca ${file}: not a CA certificate`);
  return ca;
}

const CLIENT_CA = clientCa();

/**
 * The client certificate the TLS terminator forwarded: RFC 9440 `Client-Cert`, one Structured
 * Field Byte Sequence holding the DER. No field: no certificate; anything else is a bad request.
 */
function forwardedCertificate(ctx) {
  const field = ctx.get('client-cert');
  if (field === '') return undefined;
  const sequence = /^:([A-Za-z0-9+/]*={0,2}):$/.exec(field);
  if (!sequence) throw new errors.InvalidRequest('malformed Client-Cert field');
  try {
    return new crypto.X509Certificate(Buffer.from(sequence[1], 'base64'));
  } catch {
    throw new errors.InvalidRequest('Client-Cert does not hold an X.509 certificate');
  }
}

function withinValidity(cert, now) {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

/** What the terminator checks in the handshake: issued and signed by the client CA, both valid now. */
function certificateAuthorized(ctx) {
  const cert = forwardedCertificate(ctx);
  if (!cert || !CLIENT_CA) return false;
  const now = Date.now();
  return cert.checkIssued(CLIENT_CA) && cert.verify(CLIENT_CA.publicKey)
    && withinValidity(cert, now) && withinValidity(CLIENT_CA, now);
}

/**
 * RFC 8705 §2.1.2: the certificate's subject DN, as an RFC 4514 string (most specific RDN first),
 * equals the registered `tls_client_auth_subject_dn`. Exact comparison; the fixture's names need no
 * escaping. The other `tls_client_auth_*` properties are not registered here and never match.
 */
function certificateSubjectMatches(ctx, property, expected) {
  if (property !== 'tls_client_auth_subject_dn') return false;
  const cert = forwardedCertificate(ctx);
  return cert !== undefined && cert.subject.split('\n').reverse().join(',') === expected;
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
    clients: CLIENTS.map(({ client_id, client_secret, subject_dn, scope }) => ({
      client_id,
      scope,
      grant_types: scope ? ['client_credentials'] : [],
      response_types: [],
      redirect_uris: [],
      ...(subject_dn
        ? {
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: subject_dn,
          tls_client_certificate_bound_access_tokens: true,
        }
        : { client_secret, token_endpoint_auth_method: 'client_secret_basic' }),
    })),
    clientAuthMethods: ['client_secret_basic', 'tls_client_auth'],
    jwks: { keys },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: ['openid', ...SCOPE.split(' ')],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      dPoP: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        getCertificate: forwardedCertificate,
        certificateAuthorized,
        certificateSubjectMatches,
      },
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
