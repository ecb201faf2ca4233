import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GovError } from '../governor/errors.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function caError(file: string, complaint: string, cause?: unknown): GovError {
  return new GovError('GOV_ERR_CONFIG_ORIGIN_CA', `proxy.originCaFile ${file} ${complaint}`, { file }, cause === undefined ? undefined : { cause });
}

/**
 * The certificate authorities of proxy.originCaFile: the file's PEM text, for the origin agent's
 * `ca` option (which takes the place of Node's bundled authorities). Throws GOV_ERR_CONFIG_ORIGIN_CA
 * when the file cannot be read, holds no PEM certificate, or holds one that does not parse: TLS
 * itself would skip such text silently and then refuse every origin connection.
 */
export function loadOriginCa(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw caError(file, `cannot be read: ${(err as Error).message}`, err);
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) throw caError(file, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  for (const [index, pem] of certificates.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw caError(file, `certificate ${index + 1} of ${certificates.length} does not parse: ${(err as Error).message}`, err);
    }
  }
  return text;
}
