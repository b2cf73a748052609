// Sends HL7 v2 messages to an MLLP listener with simple-hl7, a second
// client written independently of both the hub and node-hl7-client, and
// prints each ACK's MSA-1, MSA-2 and ERR-2 as one JSON line.
// Usage: node send-simple.cjs HOST PORT FILE...
'use strict'
const fs = require('node:fs')
const hl7 = require('simple-hl7')

async function main () {
  const [host, port, ...files] = process.argv.slice(2)
  if (!host || !port || files.length === 0) {
    console.error('usage: node send-simple.cjs HOST PORT FILE...')
    process.exit(2)
  }
  const timer = setTimeout(() => {
    console.error('timed out waiting for an ACK')
    process.exit(1)
  }, 15000)
  const parser = new hl7.Parser({ segmentSeperator: '\r' })
  const client = hl7.Server.createTcpClient({ host, port: Number(port), keepalive: true })
  const lines = []
  for (const f of files) {
    // HL7 separates segments with \r, whatever the file uses.
    const text = fs.readFileSync(f, 'utf8').replace(/\r?\n/g, '\r').replace(/\r+$/, '')
    const ack = await new Promise((resolve, reject) => {
      client.send(parser.parse(text), (err, a) => (err ? reject(err) : resolve(a)))
    })
    const err = ack.getSegment('ERR')
    lines.push(JSON.stringify({
      code: ack.getSegment('MSA').getField(1),
      ref: ack.getSegment('MSA').getField(2),
      err2: err ? err.getField(2) : ''
    }))
  }
  clearTimeout(timer)
  client.close()
  process.stdout.write(lines.join('\n') + '\n', () => process.exit(0))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
