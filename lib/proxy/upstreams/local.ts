/**
 * The controller an in-process sender (the mock, load_test_mode, a sender's own synthetic reply)
 * hands undici's current handler interface, as undici's own would: `pause` makes the sender stop
 * after the chunk in hand, `resume` lets it go on, `abort` fails the request once.
 */
import type { Dispatcher } from 'undici'

/** The handler interface the hot path and the sender wrappers implement (undici 7's current one). */
export type Handler = Required<Pick<Dispatcher.DispatchHandler, 'onRequestStart' | 'onResponseStart' | 'onResponseData' | 'onResponseEnd' | 'onResponseError'>>

export class LocalController implements Dispatcher.DispatchController {
  private p = false
  private a = false
  private why: Error | null = null
  constructor (private readonly onAbort: (reason: Error) => void, private readonly onResume: () => void = () => {}) {}
  get aborted (): boolean { return this.a }
  get paused (): boolean { return this.p }
  get reason (): Error | null { return this.why }
  abort (reason: Error): void {
    if (this.a) return
    this.a = true
    this.why = reason
    this.onAbort(reason)
  }

  pause (): void { this.p = true }
  resume (): void {
    if (!this.p) return
    this.p = false
    this.onResume()
  }
}
