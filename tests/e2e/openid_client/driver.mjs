// A relying party built on panva's certified openid-client (v6), driven from pytest
// (tests/e2e/test_openid_client.py) one JSON line at a time: a command on stdin, its answer on
// stdout. The library does the protocol work (discovery, PKCE, state, nonce, ID token
// validation, userinfo, refresh, revocation, the end-session URL); this script only keeps its
// state between the steps that pytest drives (the login itself is pytest's, over HTTP).
//
// It also listens on 127.0.0.1 for back-channel logout tokens, and verifies each one with
// panva's jose against the IdP's JWKS, as the OpenID Back-Channel Logout 1.0 spec (2.6) says.
import http from 'node:http';
import readline from 'node:readline';

import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

const state = {
  config: null,
  clientId: null,
  pkceCodeVerifier: null,
  expectedState: null,
  expectedNonce: null,
  tokens: null,
  claims: null,
  refreshTokens: [], // every refresh token received, oldest first (reuse tests)
  logouts: [], // back-channel logout tokens received, with their verification
};

function summary(tokens) {
  return {
    token_type: tokens.token_type,
    expires_in: tokens.expiresIn(),
    scope: tokens.scope ?? null,
    has_access_token: Boolean(tokens.access_token),
    has_refresh_token: Boolean(tokens.refresh_token),
    id_token: tokens.id_token ?? null,
    claims: tokens.claims() ?? null,
  };
}

function keep(tokens) {
  state.tokens = tokens;
  if (tokens.claims()) state.claims = tokens.claims();
  if (tokens.refresh_token) state.refreshTokens.push(tokens.refresh_token);
}

async function verifyLogoutToken(logoutToken) {
  const metadata = state.config.serverMetadata();
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(logoutToken, jwks, {
    issuer: metadata.issuer,
    audience: state.clientId,
    algorithms: ['RS256', 'ES256'],
    requiredClaims: ['iat', 'jti', 'events'],
  });
  const problems = [];
  if (!payload.events || typeof payload.events[BACKCHANNEL_EVENT] !== 'object') {
    problems.push('events lacks the back-channel logout event');
  }
  if (!payload.sid && !payload.sub) problems.push('neither sid nor sub');
  if ('nonce' in payload) problems.push('nonce present');
  return { payload, header: protectedHeader, problems };
}

function startBackchannelServer() {
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/backchannel-logout') {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', async () => {
      const received = {
        content_type: req.headers['content-type'] ?? null,
        logout_token: new URLSearchParams(body).get('logout_token'),
      };
      try {
        if (!state.config) throw new Error('no discovery yet');
        Object.assign(received, await verifyLogoutToken(received.logout_token), { valid: true });
      } catch (error) {
        Object.assign(received, { valid: false, error: `${error.name}: ${error.message}` });
      }
      state.logouts.push(received);
      const ok = received.valid && received.problems.length === 0;
      res.writeHead(ok ? 200 : 400, { 'Cache-Control': 'no-store' }).end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function clientAuth(method, secret) {
  if (method === 'client_secret_post') return client.ClientSecretPost(secret);
  if (method === 'client_secret_basic') return client.ClientSecretBasic(secret);
  if (method === 'none') return client.None();
  throw new Error(`unknown client authentication method ${method}`);
}

const commands = {
  async discover({ issuer, client_id, client_secret, auth_method }) {
    state.clientId = client_id;
    state.config = await client.discovery(
      new URL(issuer),
      client_id,
      undefined,
      clientAuth(auth_method, client_secret),
      { execute: [client.allowInsecureRequests] }, // the test IdP is plain http on loopback
    );
    return state.config.serverMetadata();
  },

  async authorization_url({ redirect_uri, scope, extra = {} }) {
    state.pkceCodeVerifier = client.randomPKCECodeVerifier();
    state.expectedState = client.randomState();
    state.expectedNonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(state.config, {
      redirect_uri,
      scope,
      code_challenge: await client.calculatePKCECodeChallenge(state.pkceCodeVerifier),
      code_challenge_method: 'S256',
      state: state.expectedState,
      nonce: state.expectedNonce,
      ...extra,
    });
    return { url: url.href, state: state.expectedState, nonce: state.expectedNonce };
  },

  async callback({ url }) {
    const tokens = await client.authorizationCodeGrant(state.config, new URL(url), {
      pkceCodeVerifier: state.pkceCodeVerifier,
      expectedState: state.expectedState,
      expectedNonce: state.expectedNonce,
      idTokenExpected: true,
    });
    keep(tokens);
    return summary(tokens);
  },

  async userinfo() {
    return client.fetchUserInfo(state.config, state.tokens.access_token, state.claims.sub);
  },

  async refresh({ which = 'latest' } = {}) {
    const token = which === 'first' ? state.refreshTokens[0] : state.refreshTokens.at(-1);
    const tokens = await client.refreshTokenGrant(state.config, token);
    const rotated = Boolean(tokens.refresh_token) && tokens.refresh_token !== token;
    keep(tokens);
    return { ...summary(tokens), rotated };
  },

  async revoke({ which }) {
    const token = which === 'refresh' ? state.refreshTokens.at(-1) : state.tokens.access_token;
    await client.tokenRevocation(state.config, token, {
      token_type_hint: which === 'refresh' ? 'refresh_token' : 'access_token',
    });
    return { revoked: which };
  },

  async introspect({ which }) {
    const token = which === 'refresh' ? state.refreshTokens.at(-1) : state.tokens.access_token;
    return client.tokenIntrospection(state.config, token);
  },

  async end_session_url({ post_logout_redirect_uri, state: logoutState }) {
    const url = client.buildEndSessionUrl(state.config, {
      id_token_hint: state.tokens.id_token,
      post_logout_redirect_uri,
      state: logoutState,
    });
    return { url: url.href };
  },

  async backchannel_logouts() {
    return state.logouts;
  },
};

function describe(error) {
  return {
    name: error.name ?? 'Error',
    message: error.message ?? String(error),
    code: error.code ?? null,
    error: error.error ?? null,
    error_description: error.error_description ?? null,
    status: error.status ?? null,
    cause: error.cause instanceof Error ? `${error.cause.code ?? error.cause.name}: ${error.cause.message}` : null,
  };
}

const server = await startBackchannelServer();
const { port } = server.address();
process.stdout.write(
  `${JSON.stringify({ ready: true, backchannel_uri: `http://127.0.0.1:${port}/backchannel-logout` })}\n`,
);

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { command, ...args } = JSON.parse(line);
  let answer;
  try {
    if (!(command in commands)) throw new Error(`unknown command ${command}`);
    answer = { ok: true, result: await commands[command](args) };
  } catch (error) {
    answer = { ok: false, error: describe(error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
server.close();
