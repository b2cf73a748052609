// Sends HL7 v2 messages to an MLLP listener with node-hl7-client, an
// implementation independent of the hub's, and prints each ACK's MSA-1 and
// MSA-2 as one JSON line. Usage: node send.cjs HOST PORT FILE...
'use strict'
const fs = require('node:fs')
const { Client, Message } = require('node-hl7-client')

async function main () {
  const [host, port, ...files] = process.argv.slice(2)
  if (!host || !port || files.length === 0) {
    console.error('usage: node send.cjs HOST PORT FILE...')
    process.exit(2)
  }
  const timer = setTimeout(() => {
    console.error('timed out waiting for an ACK')
    process.exit(1)
  }, 15000)
  let onAck = null
  const client = new Client({ host })
  const conn = client.createConnection({ port: Number(port), waitAck: true }, async (res) => {
    const m = res.getMessage()
    if (onAck) onAck({ code: m.get('MSA.1').toString(), ref: m.get('MSA.2').toString() })
  })
  conn.on('client.error', (err) => console.error('client error:', err && err.message))
  const lines = []
  // One message at a time: the client sends a queued message only when it
  // (re)connects, so the next one goes out only after the last ACK.
  for (const f of files) {
    // HL7 separates segments with \r, whatever the file uses.
    const text = fs.readFileSync(f, 'utf8').replace(/\r?\n/g, '\r').replace(/\r+$/, '')
    const acked = new Promise((resolve) => { onAck = resolve })
    await conn.sendMessage(new Message({ text }))
    lines.push(JSON.stringify(await acked))
  }
  clearTimeout(timer)
  await conn.close()
  client.closeAll()
  process.stdout.write(lines.join('\n') + '\n', () => process.exit(0))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
