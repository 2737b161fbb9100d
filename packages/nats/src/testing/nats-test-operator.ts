import { createHash } from 'node:crypto';
import { nkeys } from '@nats-io/transport-node';

type KeyPair = ReturnType<typeof nkeys.createOperator>;

const base64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

/** RFC 4648 base32 without padding: how NATS writes a JWT id. */
function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/**
 * A NATS JWT (version 2 claims) for `subject`, issued and signed by `issuer`: header and claims in
 * base64url, then the ed25519 signature of both by the issuer's nkey.
 */
function sign(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = { iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  claims['jti'] = base32(createHash('sha256').update(JSON.stringify(claims)).digest());
  const unsigned = `${base64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${base64url(JSON.stringify(claims))}`;
  return `${unsigned}.${base64url(issuer.sign(new TextEncoder().encode(unsigned)))}`;
}

/** Unlimited connections, subscriptions, payloads and JetStream storage. */
const unlimited = {
  subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1,
  mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1,
};

/**
 * An operator for a NatsTestServer in operator mode (decentralised auth, memory resolver): one
 * system account and one application account with JetStream, whose users get `.creds` files from
 * `userCreds`. All keys are made anew in memory; nothing is written until a test writes a creds file.
 */
export class NatsTestOperator {
  readonly #operator = nkeys.createOperator();
  readonly #system = nkeys.createAccount();
  readonly #account = nkeys.createAccount();
  /** The operator's JWT (self-signed). */
  readonly operatorJwt: string;
  /** The public key of the system account. */
  readonly systemAccount: string;
  /** The public key of the account users are made in. */
  readonly account: string;
  /** Account public key → account JWT, for the server's `resolver_preload`. */
  readonly accountJwts: Readonly<Record<string, string>>;

  constructor() {
    this.operatorJwt = sign(this.#operator, this.#operator.getPublicKey(), 'micro-framework-test-operator', { type: 'operator' });
    this.systemAccount = this.#system.getPublicKey();
    this.account = this.#account.getPublicKey();
    this.accountJwts = {
      [this.systemAccount]: sign(this.#operator, this.systemAccount, 'SYS', { type: 'account', limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 } }),
      [this.account]: sign(this.#operator, this.account, 'APP', { type: 'account', limits: unlimited }),
    };
  }

  /**
   * The text of a `.creds` file for a new user `name` of the application account (allowed every
   * subject), or, with `account: 'stranger'`, of an account the server does not know.
   */
  userCreds(name: string, options: { account?: 'app' | 'stranger' } = {}): string {
    const user = nkeys.createUser();
    const issuer = options.account === 'stranger' ? nkeys.createAccount() : this.#account;
    const jwt = sign(issuer, user.getPublicKey(), name, { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
    const seed = new TextDecoder().decode(user.getSeed());
    return [
      '-----BEGIN NATS USER JWT-----', jwt, '------END NATS USER JWT------', '',
      '************************* IMPORTANT *************************',
      'NKEY Seed printed below can be used to sign and prove identity.',
      'NKEYs are sensitive and should be treated as secrets.', '',
      '-----BEGIN USER NKEY SEED-----', seed, '------END USER NKEY SEED------', '',
    ].join('\n');
  }
}
