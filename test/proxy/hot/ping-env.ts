/** Imported first by tests that watch pings: a 150 ms silence before a ping (read once, into lib/runtime-env.ts). */
process.env.WEIR_SSE_PING_MS = '150'
export {}
