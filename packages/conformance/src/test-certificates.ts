import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Certificates made for one test run by `openssl` (Debian's): a CA, a server certificate for
 * 127.0.0.1 and localhost signed by it, a client certificate (CN `clientName`) signed by it, and a
 * second CA that signed nothing the servers present (to prove a wrong CA is refused). Keys are
 * unencrypted P-256 in PKCS#8 (what Kafka's PEM key store reads), files readable by the owner only.
 */
export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly caKeyFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** The client certificate's subject common name (RabbitMQ EXTERNAL takes it as the user name). */
  readonly clientName: string;
  /** A CA that signed none of the above. */
  readonly otherCaFile: string;
  /** The text of one of the files above. */
  read(file: string): string;
  /** Deletes the directory. */
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync(process.env['OPENSSL_BIN'] ?? 'openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '');
    throw new Error(`openssl ${args[0]} failed (is Debian's openssl installed?): ${stderr.trim() || String(error)}`, { cause: error });
  }
}

/** Makes a new set of certificates in a new temporary directory. */
export function testCertificates(options: { clientName?: string; days?: number } = {}): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'micro-framework-tls-'));
  const clientName = options.clientName ?? 'svc-client';
  const days = String(options.days ?? 2);
  const key = (name: string): void => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name], dir);
  const ca = (name: string, subject: string): void => {
    key(`${name}-key.pem`);
    openssl(['req', '-x509', '-new', '-key', `${name}-key.pem`, '-out', `${name}.pem`, '-days', days, '-subj', subject,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  };
  const leaf = (name: string, subject: string, extensions: string): void => {
    key(`${name}-key.pem`);
    openssl(['req', '-new', '-key', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', subject], dir);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`,
      '-days', days, '-extfile', `${name}.ext`], dir);
  };
  try {
    ca('ca', '/CN=micro-framework test CA');
    ca('other-ca', '/CN=micro-framework untrusted CA');
    leaf('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyAgreement\n');
    leaf('client', `/CN=${clientName}`, 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyAgreement\n');
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const file = (name: string): string => join(dir, name);
  return {
    dir,
    caFile: file('ca.pem'),
    caKeyFile: file('ca-key.pem'),
    serverCertFile: file('server.pem'),
    serverKeyFile: file('server-key.pem'),
    clientCertFile: file('client.pem'),
    clientKeyFile: file('client-key.pem'),
    clientName,
    otherCaFile: file('other-ca.pem'),
    read: (path) => readFileSync(path, 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
