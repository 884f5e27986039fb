// Live inbox: a referral's status updates in place; a new one is announced with a link to reload.
import { announceReload, follow, tag } from './live-common.mjs'

const table = document.getElementById('referrals')
const status = document.getElementById('live-status')
const TAGS = { new: 'govuk-tag--blue', accepted: 'govuk-tag--turquoise', declined: 'govuk-tag--pink', closed: 'govuk-tag--green' }

function apply (referral) {
  const row = table && table.querySelector(`tr[data-referral-id="${CSS.escape(referral.id)}"]`)
  if (!row) return announceReload(status, 'referrals')
  tag(row.querySelectorAll('td')[2].querySelector('strong'), referral.status, TAGS)
  status.textContent = `A referral is now ${referral.status}`
}

follow(status, '/live/referrals', 'referral', apply)
