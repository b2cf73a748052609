// Drives the hub's FHIR facade with fhir-kit-client, a maintained FHIR
// client written independently of the hub, checks every resource it gets
// with FHIR.js's R4 validator (the npm package fhir), and prints each
// step's HTTP status, resource and the validator's messages as one JSON
// line for the Go test to check.
// Usage: node client.cjs BASE TOKEN SURVIVOR_ID ABSORBED_ID SHIELDED_ID
'use strict'

const { Fhir } = require('fhir')
const validator = new Fhir() // R4 structure definitions and value sets

// validate is FHIR.js's verdict on a resource: whether it is valid R4, and
// its warnings and errors (its "info" messages only say which value sets
// it does not ship).
function validate (body) {
  if (!body || typeof body !== 'object' || !body.resourceType) return null
  const r = validator.validate(body, { errorOnUnexpected: true })
  return { valid: r.valid, messages: (r.messages || []).filter((m) => m.severity !== 'info') }
}

async function main () {
  // fhir-kit-client 2 is an ES module.
  const mod = await import('fhir-kit-client')
  const Client = mod.default || mod.Client
  const [baseUrl, token, survivor, absorbed, shielded] = process.argv.slice(2)
  if (!baseUrl || !token || !survivor || !absorbed || !shielded) {
    console.error('usage: node client.cjs BASE TOKEN SURVIVOR_ID ABSORBED_ID SHIELDED_ID')
    process.exit(2)
  }
  const client = new Client({ baseUrl, bearerToken: token })
  const anonymous = new Client({ baseUrl })
  const out = []
  const step = async (name, fn) => {
    try {
      const body = await fn()
      out.push({ step: name, status: 200, body, fhirjs: validate(body) })
      return body
    } catch (err) {
      const res = err && err.response
      if (!res) throw err
      out.push({ step: name, status: res.status, body: res.data, fhirjs: validate(res.data) })
      return null
    }
  }
  await step('metadata', () => anonymous.capabilityStatement())
  const auth = await anonymous.smartAuthMetadata()
  out.push({ step: 'smart', status: 200, body: { tokenUrl: String(auth.tokenUrl || ''), authorizeUrl: String(auth.authorizeUrl || '') } })
  const first = await step('search', () => client.search({ resourceType: 'Patient', searchParams: { family: 'Hughes', birthdate: '2015', _count: 1 } }))
  if (first) {
    const second = await step('next', () => client.nextPage({ bundle: first }))
    if (second) await step('previous', () => client.prevPage({ bundle: second }))
  }
  await step('post-search', () => client.search({ resourceType: 'Patient', searchParams: { name: 'Hughes', birthdate: '2015-03' }, options: { postSearch: true } }))
  const read = await step('read', () => client.read({ resourceType: 'Patient', id: survivor }))
  await step('read-absorbed', () => client.read({ resourceType: 'Patient', id: absorbed }))
  // The survivor's replaces link names the absorbed record's last
  // version; resolving it is a vread, answered with replaced-by.
  const replaces = ((read && read.link) || []).find((l) => l.type === 'replaces')
  if (replaces) {
    await step('resolve-replaces', () => client.resolve({ reference: replaces.other.reference }))
    const version = replaces.other.reference.split('/_history/')[1]
    await step('vread-absorbed', () => client.vread({ resourceType: 'Patient', id: absorbed, version }))
  }
  await step('vread-absorbed-unknown', () => client.vread({ resourceType: 'Patient', id: absorbed, version: '999999' }))
  if (read) await step('vread-current', () => client.vread({ resourceType: 'Patient', id: survivor, version: read.meta.versionId }))
  await step('vread-old', () => client.vread({ resourceType: 'Patient', id: survivor, version: '1' }))
  await step('history', () => client.history({ resourceType: 'Patient', id: survivor }))
  await step('read-shielded', () => client.read({ resourceType: 'Patient', id: shielded }))
  await step('search-shielded', () => client.search({ resourceType: 'Patient', searchParams: { _id: shielded } }))
  await step('search-id-absorbed', () => client.search({ resourceType: 'Patient', searchParams: { _id: absorbed } }))
  await step('elements', () => client.search({ resourceType: 'Patient', searchParams: { _id: survivor, _elements: 'name,birthDate' } }))
  await step('pds-max-results', () => client.search({ resourceType: 'Patient', searchParams: { family: 'Hughes', birthdate: '2015', '_max-results': 1 } }))
  await step('unknown', () => client.read({ resourceType: 'Patient', id: '00000000-0000-4000-8000-000000000000' }))
  await step('unknown-type', () => client.read({ resourceType: 'Observation', id: survivor }))
  await step('xml', () => client.search({ resourceType: 'Patient', searchParams: { family: 'Hughes', birthdate: '2015', _format: 'xml' } }))
  await step('anonymous', () => anonymous.search({ resourceType: 'Patient', searchParams: { family: 'Hughes', birthdate: '2015' } }))
  await step('need-more', () => client.search({ resourceType: 'Patient', searchParams: { family: 'Hughes' } }))
  process.stdout.write(out.map((o) => JSON.stringify(o)).join('\n') + '\n', () => process.exit(0))
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err)
  process.exit(1)
})
