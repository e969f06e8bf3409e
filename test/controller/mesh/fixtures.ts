/**
 * The mesh tests' TLS certificate. localhost.crt/.key: a self-signed P-256 certificate for
 * CN=localhost, IP 127.0.0.1, valid to 2126, made with
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 36500 -nodes \
 *     -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost
 * The test mesh itself (a user per role) is harness/rigs/mesh.ts.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = join(fileURLToPath(import.meta.url), '..', 'fixtures');
export const CERT = join(FIXTURES, 'localhost.crt');
export const KEY = join(FIXTURES, 'localhost.key');
