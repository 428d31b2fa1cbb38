/** Minimal valid production environments for tests, to be extended per case. */
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256!'
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64')

export function baseEnv (extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NEXCONN_APP_KEY: 'testappkey',
    NEXCONN_APP_SECRET: 'test-app-secret',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    ...extra
  }
}
