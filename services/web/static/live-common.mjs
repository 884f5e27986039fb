// What the live worklist and the live inbox share (progressive enhancement over server pages).
// EventSource resends Last-Event-ID itself after a reconnect; the server replays every change since.

export function tag (strong, value, colours) {
  strong.className = `govuk-tag ${colours[value] || ''}`
  strong.textContent = value.charAt(0).toUpperCase() + value.slice(1)
}

// A change to a row this page does not show: say so, with a link to reload the list.
export function announceReload (status, noun) {
  status.replaceChildren(`New or changed ${noun} are waiting. `)
  const link = document.createElement('a')
  link.href = window.location.href
  link.className = 'govuk-link'
  link.textContent = 'Reload the list'
  status.append(link)
}

export function follow (status, path, event, apply) {
  if (!status || !window.EventSource) return
  const source = new EventSource(path)
  source.addEventListener(event, (e) => apply(JSON.parse(e.data)))
  source.addEventListener('open', () => { document.body.dataset.live = 'on' })
}
