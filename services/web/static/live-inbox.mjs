// Live inbox (progressive enhancement): a referral's status updates in place; a new one is
// announced with a link to reload. EventSource resends Last-Event-ID itself after a reconnect.
const table = document.getElementById('referrals')
const status = document.getElementById('live-status')
const TAGS = { new: 'govuk-tag--blue', accepted: 'govuk-tag--turquoise', declined: 'govuk-tag--pink', closed: 'govuk-tag--green' }

function apply (referral) {
  const row = table && table.querySelector(`tr[data-referral-id="${CSS.escape(referral.id)}"]`)
  if (row) {
    const strong = row.querySelectorAll('td')[2].querySelector('strong')
    strong.className = `govuk-tag ${TAGS[referral.status] || ''}`
    strong.textContent = referral.status.charAt(0).toUpperCase() + referral.status.slice(1)
    status.textContent = `A referral is now ${referral.status}`
  } else {
    status.replaceChildren('New or changed referrals are waiting. ')
    const link = document.createElement('a')
    link.href = window.location.href
    link.className = 'govuk-link'
    link.textContent = 'Reload the list'
    status.append(link)
  }
}

if (status && window.EventSource) {
  const source = new EventSource('/live/referrals')
  source.addEventListener('referral', (e) => apply(JSON.parse(e.data)))
  source.addEventListener('open', () => { document.body.dataset.live = 'on' })
}
