// An independent DPoP client (oauth4webapi) for tower-auth's interop tests.
//
//   node dpop-client.js --issuer URL --client-id ID --client-secret SECRET --resource AUDIENCE
//                       [--scope "a b"] [--alg ES256] --request "METHOD URL" [--request ...]
//
// Discovers the issuer, makes a key pair, obtains a DPoP-bound access token with the client
// credentials grant (the token request carries a DPoP proof, RFC 9449 §5), then produces one
// request to each `--request` target the way oauth4webapi sends it to a protected resource: an
// `Authorization: DPoP …` header and a fresh proof with `htm`, `htu` and `ath` (§7). The requests
// are not sent; they are printed as one JSON line on standard output:
//
//   {"access_token": "...", "token_type": "DPoP", "expires_in": 3600, "scope": "...",
//    "jkt": "...", "requests": [{"method": "GET", "url": "...", "authorization": "DPoP ...",
//    "dpop": "..."}]}
//
// Any failure is printed on standard error and ends the process with status 1.

import * as oauth from 'oauth4webapi';

function parseArgs(argv) {
  const args = { requests: [], scope: undefined, alg: 'ES256' };
  const names = {
    '--issuer': 'issuer',
    '--client-id': 'clientId',
    '--client-secret': 'clientSecret',
    '--resource': 'resource',
    '--scope': 'scope',
    '--alg': 'alg',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--request') {
      const [method, url, extra] = value.split(' ');
      if (!method || !url || extra !== undefined) throw new Error(`--request wants "METHOD URL", got ${JSON.stringify(value)}`);
      args.requests.push({ method, url: new URL(url) });
    } else if (names[flag]) {
      args[names[flag]] = value;
    } else {
      throw new Error(`unknown argument ${flag}`);
    }
  }
  for (const required of ['issuer', 'clientId', 'clientSecret', 'resource']) {
    if (!args[required]) throw new Error(`missing --${required.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  // The provider runs on http://127.0.0.1 in the tests.
  const insecure = { [oauth.allowInsecureRequests]: true };

  const issuer = new URL(args.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  const client = { client_id: args.clientId };
  const auth = oauth.ClientSecretBasic(args.clientSecret);

  const keyPair = await oauth.generateKeyPair(args.alg, { extractable: true });
  const DPoP = oauth.DPoP(client, keyPair);

  const parameters = { resource: args.resource };
  if (args.scope) parameters.scope = args.scope;
  const response = await oauth.clientCredentialsGrantRequest(as, client, auth, parameters, { DPoP, ...insecure });
  const token = await oauth.processClientCredentialsResponse(as, client, response);
  if (token.token_type !== 'dpop') {
    throw new Error(`expected a DPoP-bound token, got token_type ${token.token_type}`);
  }

  const requests = [];
  for (const { method, url } of args.requests) {
    // oauth4webapi builds the request; this fetch records it instead of sending it.
    const capture = async (_href, init) => {
      requests.push({
        method,
        url: url.href,
        authorization: init.headers.authorization,
        dpop: init.headers.dpop,
      });
      return new Response(null, { status: 204 });
    };
    await oauth.protectedResourceRequest(token.access_token, method, url, new Headers(), null, {
      DPoP,
      [oauth.customFetch]: capture,
      ...insecure,
    });
  }

  process.stdout.write(`${JSON.stringify({
    access_token: token.access_token,
    token_type: 'DPoP',
    expires_in: token.expires_in,
    scope: token.scope,
    jkt: await DPoP.calculateThumbprint(),
    requests,
  })}\n`);
}

main().catch((err) => {
  process.stderr.write(`dpop-client: ${err?.stack ?? err}\n`);
  process.exit(1);
});
