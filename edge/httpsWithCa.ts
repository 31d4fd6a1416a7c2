/**
 * HTTPS to the Rollcall API when the school's server certificate comes from its own CA (a self-signed
 * compose install, an internal PKI): ROLLCALL_CA_FILE adds that CA to Node's public ones, and the
 * certificate is still verified — chain and host name — never switched off. Node 20's fetch cannot take a
 * CA per call, so this is a fetch-shaped wrapper over node:https with the same Response it returns.
 */
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Reads the PEM file (one or more certificates); a file without a certificate is a configuration error. */
export function readCaFile(file: string): string {
  const pem = fs.readFileSync(file, 'utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`ROLLCALL_CA_FILE=${file} holds no PEM certificate`);
  }
  return pem;
}

export function fetchWithCa(caPem: string): FetchLike {
  const agent = new https.Agent({ ca: [...tls.rootCertificates, caPem], keepAlive: true, maxSockets: 4 });
  return (url, init) => {
    const target = new URL(url);
    if (target.protocol !== 'https:') return fetch(url, init);
    return new Promise<Response>((resolve, reject) => {
      const req = https.request(
        target,
        {
          method: init.method ?? 'GET',
          headers: init.headers as Record<string, string> | undefined,
          agent,
          signal: init.signal ?? undefined,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (Array.isArray(v)) for (const x of v) headers.append(k, x);
              else if (v !== undefined) headers.set(k, v);
            }
            const status = res.statusCode ?? 502;
            // A Response cannot carry a body with 204/304.
            const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
            resolve(new Response(body, { status, statusText: res.statusMessage ?? '', headers }));
          });
        },
      );
      req.on('error', reject);
      if (typeof init.body === 'string') req.write(init.body);
      req.end();
    });
  };
}
