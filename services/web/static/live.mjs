// Live worklist (progressive enhancement): rows update in place as alerts change; new alerts are
// announced with a link to reload. EventSource resends Last-Event-ID itself after a reconnect, and
// the server replays every change since then.
const table = document.getElementById('alerts')
const status = document.getElementById('live-status')
const TAGS = { open: 'govuk-tag--blue', acknowledged: 'govuk-tag--grey', snoozed: 'govuk-tag--purple', resolved: 'govuk-tag--green' }
const SEVERITY = { info: 'govuk-tag--grey', warning: 'govuk-tag--yellow', high: 'govuk-tag--orange', critical: 'govuk-tag--red' }
const versions = new Map()

function tag (cell, value, colours) {
  const strong = cell.querySelector('strong')
  strong.className = `govuk-tag ${colours[value] || ''}`
  strong.textContent = value.charAt(0).toUpperCase() + value.slice(1)
}

function apply (alert) {
  if ((versions.get(alert.id) || 0) >= alert.version) return
  versions.set(alert.id, alert.version)
  const row = table && table.querySelector(`tr[data-alert-id="${CSS.escape(alert.id)}"]`)
  if (row) {
    const cells = row.querySelectorAll('td')
    cells[2].textContent = String(alert.value)
    tag(cells[3], alert.severity, SEVERITY)
    tag(cells[4], alert.status, TAGS)
    cells[5].textContent = alert.updated
    status.textContent = `${alert.rule}: now ${alert.status}, ${alert.value}`
  } else {
    status.replaceChildren('New or changed alerts are waiting. ')
    const link = document.createElement('a')
    link.href = window.location.href
    link.className = 'govuk-link'
    link.textContent = 'Reload the list'
    status.append(link)
  }
}

if (status && window.EventSource) {
  const source = new EventSource('/live/alerts')
  source.addEventListener('alert', (e) => apply(JSON.parse(e.data)))
  source.addEventListener('open', () => { document.body.dataset.live = 'on' })
}
