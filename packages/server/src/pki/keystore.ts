import * as x509 from '@peculiar/x509';
import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey } from '@cordon/protocol';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** The server's key material. Kept as files under `<dataDir>/keys` (mode 0600), never in the database. */
export interface ServerKeys {
  caCertPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  signingPrivateKeyPem: string;
  signingPublicKeyPem: string;
  /** SHA-256 of the CA certificate (DER), hex: what enrollment tokens pin. */
  caPin: string;
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

export function certPin(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

async function makeCa(): Promise<{ certPem: string; keys: webcrypto.CryptoKeyPair }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name: `CN=Cordon CA ${randomBytes(4).toString('hex')}`,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 20 * 365 * 86400_000),
    keys,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keys };
}

async function makeServerCert(caCertPem: string, caKey: webcrypto.CryptoKey): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = new x509.X509Certificate(caCertPem);
  const ips = Object.values(networkInterfaces()).flat().filter((i) => i !== undefined).map((i) => ({ type: 'ip' as const, value: i.address.split('%')[0]! }));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(8).toString('hex'),
    subject: `CN=${hostname()}`,
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 5 * 365 * 86400_000),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: hostname() }, { type: 'dns', value: 'localhost' }, ...ips]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem'), keyPem: toPem(pkcs8, 'PRIVATE KEY') };
}

/** Loads the server's keys, creating the CA, TLS certificate and command-signing key on first start. */
export async function loadOrCreateKeys(dataDir: string): Promise<ServerKeys> {
  const dir = join(dataDir, 'keys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (name: string) => join(dir, name);
  if (!existsSync(f('ca.crt'))) {
    const ca = await makeCa();
    const caKeyPem = toPem(await webcrypto.subtle.exportKey('pkcs8', ca.keys.privateKey), 'PRIVATE KEY');
    const server = await makeServerCert(ca.certPem, ca.keys.privateKey);
    const signing = generateSigningKey();
    writeSecret(f('ca.key'), caKeyPem);
    writeSecret(f('server.key'), server.keyPem);
    writeSecret(f('signing.key'), signing.privateKeyPem);
    writeFileSync(f('server.crt'), server.certPem);
    writeFileSync(f('signing.pub'), signing.publicKeyPem);
    // The CA certificate is written last: its presence marks a complete key set.
    writeFileSync(f('ca.crt'), ca.certPem);
  }
  const caCertPem = readFileSync(f('ca.crt'), 'utf8');
  return {
    caCertPem,
    serverCertPem: readFileSync(f('server.crt'), 'utf8'),
    serverKeyPem: readFileSync(f('server.key'), 'utf8'),
    signingPrivateKeyPem: readFileSync(f('signing.key'), 'utf8'),
    signingPublicKeyPem: readFileSync(f('signing.pub'), 'utf8'),
    caPin: certPin(caCertPem),
  };
}
