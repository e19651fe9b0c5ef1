/**
 * Fakes for the hot path's unit tests: a uWS response that records what was written (and can push
 * back), a request record, and an undici controller that records pause/resume/abort.
 */
import type { Dispatcher } from 'undici'
import type { ClientResponse } from '../../../lib/proxy/bridge.js'
import type { Req } from '../../../lib/http/request.js'

export type Op = ['cork'] | ['status', string] | ['header', string, string] | ['write', string] | ['end', string] | ['close'] | ['onWritable']

export class FakeRes implements ClientResponse {
  ops: Op[] = []
  corks = 0
  /** Bytes handed to uWS in each cork (status, headers, writes with chunk framing, the end). */
  corkBytes: number[] = []
  private inCork = false
  /** `write` answers false (the socket is full) while this is true. */
  full = false
  writable: ((offset: number) => boolean) | null = null
  cork (cb: () => void): this {
    this.corks++
    this.ops.push(['cork'])
    this.corkBytes.push(0)
    this.inCork = true
    cb()
    this.inCork = false
    return this
  }

  private count (n: number): void { if (this.inCork) this.corkBytes[this.corkBytes.length - 1]! += n }
  writeStatus (s: Buffer | string): this { this.count(s.length + 11); this.ops.push(['status', String(s)]); return this }
  writeHeader (k: Buffer | string, v: Buffer | string): this { this.count(k.length + v.length + 4); this.ops.push(['header', String(k), String(v)]); return this }
  write (c: Buffer | string): boolean { this.count(c.length + 12); this.ops.push(['write', String(c)]); return !this.full }
  end (c?: Buffer | string): this { this.count((c?.length ?? 0) + 7); this.ops.push(['end', c === undefined ? '' : String(c)]); return this }
  close (): this { this.ops.push(['close']); return this }
  onWritable (h: (offset: number) => boolean): this { this.ops.push(['onWritable']); this.writable = h; return this }
  /** The client drained its socket. */
  drain (): void { this.full = false; this.writable?.(0) }
  get body (): string { return this.ops.filter((o) => o[0] === 'write' || o[0] === 'end').map((o) => o[1]).join('') }
  header (name: string): string[] { return this.ops.filter((o): o is ['header', string, string] => o[0] === 'header' && o[1] === name).map((o) => o[2]) }
  get status (): string | undefined { return (this.ops.find((o) => o[0] === 'status') as ['status', string] | undefined)?.[1] }
}

export function fakeReq (headers: Record<string, string> = {}): Req {
  return {
    method: 'POST', path: '/v1/messages', query: '', headers, headerBytes: 0, peer: '127.0.0.1', id: 'req-test-1', t0: performance.now(), ip: '127.0.0.1',
    aborted: false, started: false, done: false, onAbort: null, onFinish: null, bodyOpen: false, onBodyDone: null, badFraming: null,
  } as unknown as Req
}

export class FakeController implements Dispatcher.DispatchController {
  paused = false
  aborted = false
  reason: Error | null = null
  resumes = 0
  pauses = 0
  onAbort: ((e: Error) => void) | null = null
  onResume: (() => void) | null = null
  abort (r: Error): void { if (this.aborted) return; this.aborted = true; this.reason = r; this.onAbort?.(r) }
  pause (): void { this.pauses++; this.paused = true }
  resume (): void { this.resumes++; this.paused = false; this.onResume?.() }
}

/** Let queued microtasks (the end-of-tick flush) run. */
export const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }
