/**
 * The argument structs of the primary↔worker RPC map (lib/ipc.ts) and the one check that applies
 * them. Each feature declares its RPCs once, name → `rpc<Reply>()(argumentStruct)`, in its own
 * `rpc-map.ts`; the same declaration types `callPrimary` in the workers, types the handlers given
 * to `registerRpc` in the primary, and is the primary's argument check. Nothing checks arguments
 * by hand per handler.
 *
 * The structs here fail with short phrases ("must be a non-empty string", "is required"), so a
 * refusal reads `<rpc name>: <argument path> <phrase>` (`session.revoke: exp is required`).
 * Invariant: a refused call throws `RpcArgumentError` (a TypeError) before its handler runs.
 */
import { type Struct, StructError, array, define, optional as opt, size } from 'superstruct'

/** A refused RPC argument: a TypeError (its `name` too), with code `ERR_RPC_ARGS`, which crosses the worker boundary. */
export class RpcArgumentError extends TypeError {
  readonly code = 'ERR_RPC_ARGS'
}

const missing = (v: unknown): boolean => v === undefined || v === null

/** Any string. */
export const text = define<string>('text', (v) => typeof v === 'string' || (missing(v) ? 'is required' : 'must be a string'))

/** A string with at least one character (keys, ids, hashes). */
export const nonEmpty = define<string>('nonEmpty', (v) => (typeof v === 'string' && v !== '') || 'must be a non-empty string')

/** A finite number. */
export const finite = define<number>('finite', (v) => (typeof v === 'number' && Number.isFinite(v)) || (missing(v) ? 'is required' : 'must be a number'))

/** A finite number above zero (ttls, expiry times). */
export const positive = define<number>('positive', (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0) || (missing(v) ? 'is required' : 'must be a positive number'))

/** true or false. */
export const flag = define<boolean>('flag', (v) => typeof v === 'boolean' || (missing(v) ? 'is required' : 'must be true or false'))

/** An array of `s` (of `min` to `max` items when given), typed read-only so callers may pass theirs. */
export const list = <T>(s: Struct<T, unknown>, min = 0, max = Infinity): Struct<readonly T[], Struct<T, unknown>> =>
  size(array(s), min, max) as unknown as Struct<readonly T[], Struct<T, unknown>>

/** An optional argument: absent or undefined passes, anything else must match `s`. */
export const optional = opt

/** Spelled with the struct's failure, e.g. `hashes[1] must be a non-empty string`. */
function describe (name: string, err: StructError): string {
  const f = err.failures()[0] ?? err
  const path = f.path.map((p, i) => typeof p === 'number' ? `[${p}]` : (i === 0 ? String(p) : `.${String(p)}`)).join('')
  if (path === '' && (f.type === 'object' || f.type === 'type')) return `${name}: arguments must be an object`
  if (path === '') return `${name}: the argument ${f.message}`
  if (f.type === 'never') return `${name}: ${path} is not an argument`
  // Our own structs answer a phrase; superstruct's built-ins answer a sentence ("Expected ...").
  return /^[A-Z]/.test(f.message) ? `${name}: ${path}: ${f.message}` : `${name}: ${path} ${f.message}`
}

/** Check `args` against the RPC's struct; returns them (typed) or throws `RpcArgumentError`. */
export function checkArgs<A> (name: string, struct: Struct<A, unknown>, args: unknown): A {
  const [err, value] = struct.validate(args)
  if (err !== undefined) throw new RpcArgumentError(describe(name, err))
  return value
}
