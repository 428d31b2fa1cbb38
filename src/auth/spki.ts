/**
 * Public keys in the form the verifier (fast-jwt, under @fastify/jwt) is given: SPKI PEM.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'

/**
 * SPKI PEM of a public key, in the form fast-jwt can classify. fast-jwt does not recognise the
 * RSASSA-PSS key OID, so an `rsa-pss` key is re-wrapped as a plain RSA key: same modulus and
 * exponent; the algorithm pin (PS*) still decides which padding is accepted.
 */
export function spkiPem (key: KeyObject): string {
  const usable = key.asymmetricKeyType === 'rsa-pss' ? rsaPssAsRsa(key) : key
  return usable.export({ type: 'spki', format: 'pem' }).toString()
}

function rsaPssAsRsa (key: KeyObject): KeyObject {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  // and the BIT STRING (after its unused-bits byte) is the PKCS#1 RSAPublicKey.
  const der = key.export({ type: 'spki', format: 'der' })
  const outer = readDerHeader(der, 0, 0x30)
  const algorithm = readDerHeader(der, outer.contentStart, 0x30)
  const bits = readDerHeader(der, algorithm.end, 0x03)
  const pkcs1 = der.subarray(bits.contentStart + 1, bits.end)
  return createPublicKey({ key: pkcs1, format: 'der', type: 'pkcs1' })
}

function readDerHeader (der: Buffer, offset: number, expectedTag: number): { contentStart: number, end: number } {
  if (der.readUInt8(offset) !== expectedTag) throw new Error('Unexpected DER structure in public key')
  let length = der.readUInt8(offset + 1)
  let cursor = offset + 2
  if (length & 0x80) {
    const octets = length & 0x7f
    length = 0
    for (let i = 0; i < octets; i++) length = length * 256 + der.readUInt8(cursor++)
  }
  return { contentStart: cursor, end: cursor + length }
}
