// oidc-provider ships no type declarations; Weir uses it only in `weir dev` and tests, through a
// narrow surface (lib/dev/idp.ts), so it is typed loosely here.
declare module 'oidc-provider' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const Provider: any
  export default Provider
}
