// Live worklist: rows update in place as alerts change; new alerts are announced with a link to reload.
import { announceReload, follow, tag } from './live-common.mjs'

const table = document.getElementById('alerts')
const status = document.getElementById('live-status')
const TAGS = { open: 'govuk-tag--blue', acknowledged: 'govuk-tag--grey', snoozed: 'govuk-tag--purple', resolved: 'govuk-tag--green' }
const SEVERITY = { info: 'govuk-tag--grey', warning: 'govuk-tag--yellow', high: 'govuk-tag--orange', critical: 'govuk-tag--red' }
const versions = new Map()

function apply (alert) {
  if ((versions.get(alert.id) || 0) >= alert.version) return
  versions.set(alert.id, alert.version)
  const row = table && table.querySelector(`tr[data-alert-id="${CSS.escape(alert.id)}"]`)
  if (!row) return announceReload(status, 'alerts')
  const cells = row.querySelectorAll('td')
  cells[2].textContent = String(alert.value)
  tag(cells[3].querySelector('strong'), alert.severity, SEVERITY)
  tag(cells[4].querySelector('strong'), alert.status, TAGS)
  cells[5].textContent = alert.updated
  status.textContent = `${alert.rule}: now ${alert.status}, ${alert.value}`
}

follow(status, '/live/alerts', 'alert', apply)
