// A tiny static server for the browser demo: web/ (the page), dist/ (the compiled
// TypeScript the page imports as ES modules), build/ (the WebAssembly engine) and docs/.
// Node's http module only; GET and HEAD; no directory listings; paths are resolved
// inside those folders and anything that escapes them is refused, symbolic links
// included (the real path must stay inside the real folder). Files are streamed, so
// memory stays bounded whatever the number of requests and the size of the files.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { open, realpath } from 'node:fs/promises';
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

/**
 * Whether `file` (from resolveRequest) really lies inside its served folder once every
 * symbolic link is followed; the real path, or null.
 */
export async function realInside(root: string, file: string): Promise<string | null> {
  const top = path.relative(root, file).split(path.sep)[0];
  try {
    const base = await realpath(path.resolve(root, top));
    const real = await realpath(file);
    return real === base || real.startsWith(base + path.sep) ? real : null;
  } catch {
    return null;
  }
}

/** Starts the server; resolves once it listens. */
export function startServer(opts: ServeOptions = {}): Promise<RunningServer> {
  const root = path.resolve(opts.root ?? PACKAGE_ROOT);
  const host = opts.host ?? '127.0.0.1';
  const server = createServer((req, res) => handle(root, opts, req, res));
  return listen(server, host, opts.port ?? 8080);
}

/** One request: GET or HEAD of a file inside the served folders, else an error status. */
function handle(root: string, opts: ServeOptions, req: IncomingMessage, res: ServerResponse): void {
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
  sendFile(root, file, method === 'HEAD', res, () => done(404, 'not found\n'), () => opts.log?.(method, req.url ?? '', 200)).catch(() => {
    if (!res.headersSent) done(500, 'internal error\n');
    else res.destroy();
  });
}

/** Streams `file` (or its headers only, for HEAD) when its real path stays inside `root`'s folder; else `notFound()`. */
async function sendFile(root: string, file: string, head: boolean, res: ServerResponse, notFound: () => void, logOk: () => void): Promise<void> {
  const real = await realInside(root, file);
  if (real === null) return notFound();
  // open once, then stat and stream that same descriptor (no swap between check and read)
  const fh = await open(real, 'r').catch(() => null);
  if (!fh) return notFound();
  const st = await fh.stat().catch(() => null);
  if (!st || !st.isFile()) {
    await fh.close();
    return notFound();
  }
  res.writeHead(200, {
    'content-type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    'content-length': st.size,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  logOk();
  if (head || st.size === 0) {
    await fh.close();
    res.end();
    return;
  }
  // the stream owns the handle from here (closed when it ends or is destroyed)
  const stream = fh.createReadStream({ start: 0, end: st.size - 1, highWaterMark: 64 * 1024 });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

/** Listens on `host`:`port` (0: any free port); resolves with the server's address. */
function listen(server: Server, host: string, want: number): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(want, host, () => {
      server.off('error', reject);
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : want;
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
