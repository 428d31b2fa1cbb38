/**
 * Reads the entry names of a tar archive (`docker save` output and the layer tarballs inside it)
 * with Node alone: 512-byte headers, sizes in octal, PAX and GNU long names honoured.
 */

export interface TarEntry { name: string, size: number, type: string, data: Buffer }

function field (block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length)
  const end = raw.indexOf(0)
  return raw.subarray(0, end === -1 ? length : end).toString('utf8')
}

export function * tarEntries (archive: Buffer): Generator<TarEntry> {
  let offset = 0
  let longName: string | undefined
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512)
    if (header.every((byte) => byte === 0)) break
    const size = Number.parseInt(field(header, 124, 12).trim() || '0', 8)
    const type = field(header, 156, 1) || '0'
    const prefix = field(header, 345, 155)
    let name = prefix === '' ? field(header, 0, 100) : `${prefix}/${field(header, 0, 100)}`
    const data = archive.subarray(offset + 512, offset + 512 + size)
    offset += 512 + Math.ceil(size / 512) * 512
    if (type === 'L') { longName = data.toString('utf8').replace(/\0+$/, ''); continue }
    if (type === 'x') {
      const path = /\d+ path=([^\n]*)\n/.exec(data.toString('utf8'))
      if (path !== null) longName = path[1]
      continue
    }
    if (type === 'g') continue
    if (longName !== undefined) { name = longName; longName = undefined }
    yield { name, size, type, data }
  }
}
