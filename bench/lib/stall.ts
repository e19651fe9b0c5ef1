/**
 * Stalled readers: clients that send a streaming request and then never read the reply.
 *
 * Each is a raw TCP socket that is paused before it connects, so Node reads at most one socket
 * buffer's worth (~64 KiB) into userland and then stops reading; the kernel's receive window fills
 * and the gateway's writes to that client start pushing back. What a gateway does then is what the
 * stalled-reader benchmark measures (bench/run.ts `stalled`).
 */
import { connect, type Socket } from 'node:net'

export interface Stalled {
  readonly sockets: Socket[]
  /** How many replies began with `HTTP/1.1 200` (reads the first bytes of each, then closes it). */
  check (): Promise<number>
  close (): void
}

export async function stalledReaders (url: string, path: string, headers: Record<string, string>, body: Buffer, n: number): Promise<Stalled> {
  const u = new URL(url)
  const head = [`POST ${path} HTTP/1.1`, `host: ${u.host}`, `content-length: ${body.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n')
  const sockets = await Promise.all(Array.from({ length: n }, async () => await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port) })
    s.pause()
    s.once('error', reject)
    s.once('connect', () => { s.write(head); s.write(body); resolve(s) })
  })))
  for (const s of sockets) s.on('error', () => {})
  return {
    sockets,
    async check () {
      let ok = 0
      for (const s of sockets) {
        const first = await new Promise<string>((resolve) => {
          const t = setTimeout(() => resolve(''), 2000)
          s.once('data', (d: Buffer) => { clearTimeout(t); resolve(d.subarray(0, 16).toString('latin1')) })
          s.resume()
        })
        if (first.startsWith('HTTP/1.1 200')) ok++
        s.destroy()
      }
      return ok
    },
    close () { for (const s of sockets) s.destroy() },
  }
}
