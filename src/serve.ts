// A tiny static server for the browser demo: web/ (the page), dist/ (the compiled
// TypeScript the page imports as ES modules), build/ (the WebAssembly engine) and docs/.
// Node's http module only; GET and HEAD; no directory listings; paths are resolved
// inside those folders and anything that escapes them is refused.

import { createServer, type Server } from 'node:http';
import { stat, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The package root (two levels above dist/src/serve.js). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Folders the server exposes, by URL prefix. */
export const SERVED = ['web', 'dist', 'build', 'docs'] as const;

export const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ts': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
};

export interface ServeOptions {
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Directory holding web/, dist/, build/ (default: the package root). */
  root?: string;
  /** Called once per request with the status code (for logs). */
  log?: (method: string, url: string, status: number) => void;
}

export interface RunningServer {
  server: Server;
  /** The page's address, e.g. http://127.0.0.1:8080/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The file a request path names, or null when it is outside the served folders
 * (traversal, unknown prefix, NUL bytes, malformed escapes).
 */
export function resolveRequest(root: string, urlPath: string): string | null {
  let p: string;
  try {
    p = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null;
  }
  if (p.includes('\0') || p.includes('\\')) return null;
  if (p === '/' || p === '') p = '/web/index.html';
  const norm = path.posix.normalize(p);
  if (!norm.startsWith('/') || norm.split('/').includes('..')) return null;
  const [, top] = norm.split('/');
  if (!(SERVED as readonly string[]).includes(top)) return null;
  const base = path.resolve(root, top);
  const file = path.resolve(root, '.' + norm);
  if (file !== base && !file.startsWith(base + path.sep)) return null;
  return file;
}

/** Starts the server; resolves once it listens. */
export function startServer(opts: ServeOptions = {}): Promise<RunningServer> {
  const root = path.resolve(opts.root ?? PACKAGE_ROOT);
  const host = opts.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const done = (status: number, body: string | Uint8Array, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(method === 'HEAD' ? undefined : body);
      opts.log?.(method, req.url ?? '', status);
    };
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      done(405, 'method not allowed\n');
      return;
    }
    const file = resolveRequest(root, req.url ?? '/');
    if (file === null) {
      done(404, 'not found\n');
      return;
    }
    stat(file).then(async (st) => {
      if (!st.isFile()) return done(404, 'not found\n');
      const body = await readFile(file);
      done(200, body, MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream');
    }, () => done(404, 'not found\n')).catch(() => done(500, 'internal error\n'));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, host, () => {
      server.off('error', reject);
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port ?? 8080;
      const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
      resolve({
        server,
        port,
        url: `http://${shown}:${port}/`,
        close: () => new Promise<void>((r) => {
          server.closeAllConnections?.();
          server.close(() => r());
        }),
      });
    });
  });
}
