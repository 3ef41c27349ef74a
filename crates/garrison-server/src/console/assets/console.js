// Garrison console: the queue says when incidents change while it is open (server-sent events
// from /events); the analyst reloads when they choose. Nothing else runs in the page.
'use strict';
(() => {
  const notice = document.getElementById('live');
  if (!notice || !window.EventSource) return;
  const text = notice.querySelector('span');
  const seen = new Set();
  const source = new EventSource('/events');
  source.addEventListener('incident', (event) => {
    const update = JSON.parse(event.data);
    seen.add(update.id);
    text.textContent = `${seen.size} incident${seen.size === 1 ? '' : 's'} changed since this page loaded` +
      (update.escalated ? ` (latest: ${update.title}, escalated)` : '');
    notice.hidden = false;
  });
  source.addEventListener('lagged', () => {
    text.textContent = 'Many incidents changed since this page loaded';
    notice.hidden = false;
  });
})();
