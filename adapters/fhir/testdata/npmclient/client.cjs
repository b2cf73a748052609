// Drives the hub's FHIR facade with fhir-kit-client, a maintained FHIR
// client written independently of the hub, and prints each step's HTTP
// status and resource as one JSON line for the Go test to check.
// Usage: node client.cjs BASE TOKEN SURVIVOR_ID ABSORBED_ID
'use strict'

async function main () {
  // fhir-kit-client 2 is an ES module.
  const mod = await import('fhir-kit-client')
  const Client = mod.default || mod.Client
  const [baseUrl, token, survivor, absorbed] = process.argv.slice(2)
  if (!baseUrl || !token || !survivor || !absorbed) {
    console.error('usage: node client.cjs BASE TOKEN SURVIVOR_ID ABSORBED_ID')
    process.exit(2)
  }
  const client = new Client({ baseUrl, bearerToken: token })
  const anonymous = new Client({ baseUrl })
  const out = []
  const step = async (name, fn) => {
    try {
      const body = await fn()
      out.push({ step: name, status: 200, body })
      return body
    } catch (err) {
      const res = err && err.response
      if (!res) throw err
      out.push({ step: name, status: res.status, body: res.data })
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
  await step('read', () => client.read({ resourceType: 'Patient', id: survivor }))
  await step('read-absorbed', () => client.read({ resourceType: 'Patient', id: absorbed }))
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
