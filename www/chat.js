// The chat page: one WebSocket to /chat/ws, the history from /chat/history, the member
// list from /chat/members. Plain JavaScript, no dependencies, nothing from other origins.
//
// Safety: every piece of text from the network reaches the page through textContent (or
// an <a> whose href was checked to be http/https); nothing is ever parsed as HTML.
//
// For tests: window.chatReady is a Promise resolved when the WebSocket first opens.
'use strict';

(() => {
  let maxLineBytes = 4096;          // the server's default; its "line too long" notice says the real one
  const MAX_SHOWN = 1000;           // elements kept in the message list
  const MEMBERS_REFRESH_MS = 5000;  // while connected
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const STABLE_MS = 5000;           // an open socket this old resets the backoff

  const byId = (id) => document.getElementById(id);
  const ui = {
    messages: byId('messages'),
    empty: byId('empty'),
    newer: byId('newer'),
    form: byId('composer'),
    input: byId('input'),
    send: byId('send'),
    hint: byId('input-hint'),
    members: byId('members'),
    count: byId('member-count'),
    status: byId('status'),
    statusText: byId('status-text'),
    reconnect: byId('reconnect'),
    membersPanel: byId('members-panel'),
    ncCommand: byId('nc-command'),
  };

  let resolveReady;
  window.chatReady = new Promise((resolve) => { resolveReady = resolve; });

  const wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat/ws';
  const encoder = new TextEncoder();

  let socket = null;
  let attempts = 0;          // failed connection attempts since the last stable one
  let retryTimer = 0;
  let countdownTimer = 0;
  let stableTimer = 0;
  let leaving = false;       // we sent "quit": do not reconnect by ourselves
  let wasConnected = false;
  let selfAddress = '';      // our ip:port, once the server tells us (see guessSelf)
  let joinWatch = 0;         // deadline for recognising our own "joined" line
  let membersTimer = 0;
  let membersDebounce = 0;
  let membersInFlight = false;
  let stuck = true;          // the list shows its newest line: keep it so
  let unseen = 0;            // messages below the visible part of the list
  let unread = 0;            // messages while the tab was hidden
  const baseTitle = document.title;

  // What is shown, for merging the history with live lines without duplicates.
  const shown = new Set();   // keys of entries shown (bounded with the list)
  const shownOrder = [];
  let lastTime = '';         // timestamp of the newest entry shown
  let lastDay = '';
  let lastEntry = null;      // for grouping consecutive messages of one sender

  // ---------------------------------------------------------------------------------
  // Parsing: "<date> <time> <from> <text>" or "<date> <time> * <notice>"

  const LINE = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) (.*)$/s;

  function parseLine(line) {
    const m = LINE.exec(line);
    if (!m) return { time: '', from: '', kind: 'notice', text: line };
    const time = m[1];
    const rest = m[2];
    if (rest.startsWith('* ')) {
      const notice = rest.slice(2);
      let e = /^(\S+) joined$/.exec(notice);
      if (e) return { time, from: e[1], kind: 'join', text: '' };
      e = /^(\S+) left(?: \((.*)\))?$/.exec(notice);
      if (e) return { time, from: e[1], kind: 'leave', text: e[2] || '' };
      return { time, from: '', kind: 'notice', text: notice };
    }
    const sp = rest.indexOf(' ');
    if (sp < 0) return { time, from: rest, kind: 'message', text: '' };
    return { time, from: rest.slice(0, sp), kind: 'message', text: rest.slice(sp + 1) };
  }

  function fromHistory(m) {
    const kind = m.kind === 'join' || m.kind === 'leave' ? m.kind : 'message';
    let text = typeof m.text === 'string' ? m.text : '';
    if (kind !== 'message') {
      // A leave may carry its reason: "left (too slow)" or just "too slow".
      const reason = /\(([^)]*)\)\s*$/.exec(text);
      text = reason ? reason[1] : (/^(joined|left)?$/.test(text.trim()) ? '' : text);
    }
    return { time: String(m.time || ''), from: String(m.from || ''), kind, text };
  }

  const keyOf = (e) => e.kind + '\u0000' + e.time + '\u0000' + e.from + '\u0000' + e.text;

  // ---------------------------------------------------------------------------------
  // The message list

  function nearBottom() {
    const list = ui.messages;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  }

  function scrollToBottom() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
    stuck = true;
    unseen = 0;
    ui.newer.hidden = true;
  }

  function todayString() {
    const d = new Date();
    const pad = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  }

  function secondsOfDay(time) {
    const m = /(\d{2}):(\d{2}):(\d{2})/.exec(time);
    return m ? (+m[1]) * 3600 + (+m[2]) * 60 + (+m[3]) : -1;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Text with http(s) links made clickable; everything else stays plain text.
  function appendText(parent, text) {
    const url = /\bhttps?:\/\/[^\s<>"'`]+/g;
    let at = 0;
    for (let m; (m = url.exec(text)) !== null;) {
      let href = m[0].replace(/[.,;:!?)\]]+$/, '');
      let safe = null;
      try {
        const u = new URL(href);
        if (u.protocol === 'http:' || u.protocol === 'https:') safe = u.href;
      } catch (_) { /* not a URL after all: stays text */ }
      if (!safe) continue;
      parent.append(text.slice(at, m.index));
      const a = el('a', '', href);
      a.href = safe;
      a.target = '_blank';
      a.rel = 'noopener noreferrer nofollow';
      parent.append(a);
      at = m.index + href.length;
      url.lastIndex = at;
    }
    parent.append(text.slice(at));
  }

  // A stable colour per sender, so a conversation is easy to follow.
  function hueOf(address) {
    let h = 2166136261;
    for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 16777619);
    return (h >>> 0) % 360;
  }

  function timeElement(time) {
    const t = el('time', 'time', time ? time.slice(11, 19) : '');
    if (time) {
      t.dateTime = time.replace(' ', 'T');
      t.title = time;
    }
    return t;
  }

  function senderElement(address) {
    const from = el('span', 'from', address);
    from.title = address;
    from.style.setProperty('--hue', String(hueOf(address)));
    if (address && address === selfAddress) {
      from.classList.add('self');
      from.title = address + ' (you)';
    }
    return from;
  }

  function renderEntry(e) {
    const row = el('div', 'message ' + e.kind);
    row.append(timeElement(e.time));
    if (e.kind === 'message') {
      const continued = lastEntry && lastEntry.kind === 'message' && lastEntry.from === e.from &&
        lastEntry.time.slice(0, 10) === e.time.slice(0, 10) &&
        Math.abs(secondsOfDay(e.time) - secondsOfDay(lastEntry.time)) < 120;
      if (continued) row.classList.add('continued');
      if (e.from && e.from === selfAddress) row.classList.add('mine');
      row.append(senderElement(e.from));
      const text = el('span', 'text');
      appendText(text, e.text);
      row.append(text);
    } else if (e.kind === 'join' || e.kind === 'leave') {
      const body = el('span', 'text');
      const who = el('span', 'who', e.from);
      if (e.from === selfAddress) who.append(el('span', 'you', ' (you)'));
      const verb = e.kind === 'join' ? ' joined' : ' left' + (e.text ? ' (' + e.text + ')' : '');
      body.append(el('span', 'arrow', e.kind === 'join' ? '→ ' : '← '), who, verb);
      row.append(body);
    } else {
      row.append(el('span', 'text', e.text));
    }
    return row;
  }

  function append(e, options = {}) {
    if (options.dedupe && shown.has(keyOf(e))) return;
    const stick = stuck || nearBottom();
    if (ui.empty) {
      ui.empty.remove();
      ui.empty = null;
    }
    const day = e.time.slice(0, 10);
    if (day && day !== lastDay) {
      const divider = el('div', 'day', day === todayString() ? 'Today' : day);
      divider.setAttribute('role', 'separator');
      ui.messages.append(divider);
      lastDay = day;
      lastEntry = null;
    }
    ui.messages.append(renderEntry(e));
    lastEntry = e;
    if (e.time && e.time > lastTime) lastTime = e.time;
    const key = keyOf(e);
    shown.add(key);
    shownOrder.push(key);

    if (stick) {
      trim();
      scrollToBottom();
    } else if (!options.quiet) {
      unseen++;
      ui.newer.textContent = unseen === 1 ? '1 new message ↓' : unseen + ' new messages ↓';
      ui.newer.hidden = false;
    }
    if (document.hidden && !options.quiet && e.kind === 'message') {
      unread++;
      document.title = '(' + unread + ') ' + baseTitle;
    }
  }

  function trim() {
    const list = ui.messages;
    while (list.childElementCount > MAX_SHOWN) list.firstElementChild.remove();
    while (shownOrder.length > MAX_SHOWN * 2) shown.delete(shownOrder.shift());
  }

  // A line of our own (connection state), not from the room.
  function addLocal(text) {
    append({ time: '', from: '', kind: 'local', text }, { quiet: true });
  }

  ui.messages.addEventListener('scroll', () => {
    stuck = nearBottom();
    if (stuck) {
      unseen = 0;
      ui.newer.hidden = true;
    }
  }, { passive: true });
  // The list gets shorter when the window does or the input grows: still show the newest.
  new ResizeObserver(() => {
    if (stuck) ui.messages.scrollTop = ui.messages.scrollHeight;
  }).observe(ui.messages);
  ui.newer.addEventListener('click', scrollToBottom);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      unread = 0;
      document.title = baseTitle;
    }
  });

  // ---------------------------------------------------------------------------------
  // History: loaded on each (re)connect, merged without duplicates, never out of order.

  async function loadHistory() {
    let body;
    try {
      const response = await fetch('/chat/history', { cache: 'no-store' });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      body = await response.json();
    } catch (err) {
      addLocal('Could not load the earlier messages (' + err.message + ').');
      return;
    }
    const messages = Array.isArray(body && body.messages) ? body.messages : [];
    const floor = lastTime;
    for (const m of messages) {
      const e = fromHistory(m);
      if (floor && e.time < floor) continue;  // older than what is shown: a gap fill only appends
      append(e, { dedupe: true, quiet: true });
    }
  }

  // ---------------------------------------------------------------------------------
  // Members

  function renderMembers(list) {
    ui.count.textContent = String(list.length);
    const items = list.map((m) => {
      const address = String(m.address || '');
      const li = el('li', 'member');
      const name = el('span', 'addr', address);
      name.title = address;
      name.style.setProperty('--hue', String(hueOf(address)));
      li.append(name);
      if (address === selfAddress) {
        li.classList.add('self');
        li.append(el('span', 'you', 'you'));
      }
      const web = m.transport === 'websocket';
      const badge = el('span', 'badge ' + (web ? 'web' : 'tcp'), web ? 'web' : 'tcp');
      badge.title = web ? 'on the chat page' : 'over raw TCP (nc, telnet)';
      li.append(badge);
      if (m.joined) {
        const since = el('span', 'since', 'since ' + String(m.joined).slice(11, 16));
        since.title = 'joined ' + m.joined;
        li.append(since);
      }
      return li;
    });
    if (items.length === 0) items.push(el('li', 'none', 'Nobody is here.'));
    ui.members.replaceChildren(...items);
  }

  async function refreshMembers() {
    if (membersInFlight) return;
    membersInFlight = true;
    try {
      const response = await fetch('/chat/members', { cache: 'no-store' });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      const body = await response.json();
      renderMembers(Array.isArray(body && body.members) ? body.members : []);
      if (socket && socket.readyState === WebSocket.OPEN) ui.membersPanel.classList.remove('stale');
    } catch (_) {
      ui.count.textContent = '?';
    } finally {
      membersInFlight = false;
    }
  }

  function refreshMembersSoon() {
    clearTimeout(membersDebounce);
    membersDebounce = setTimeout(refreshMembers, 150);
  }

  // ---------------------------------------------------------------------------------
  // Connection

  function setState(state, text) {
    ui.status.dataset.state = state;
    ui.statusText.textContent = text;
    ui.reconnect.hidden = !(state === 'disconnected' || state === 'left');
    ui.reconnect.textContent = state === 'left' ? 'Rejoin' : 'Reconnect now';
    ui.send.disabled = state !== 'connected';
    // Who is online is only known while connected; until the next answer it may be stale.
    if (state !== 'connected') ui.membersPanel.classList.add('stale');
  }

  // The protocol does not tell a client its own address. Our "joined" line is the first
  // join broadcast after the socket opens, so take that one if it comes at once.
  function guessSelf(e) {
    if (!joinWatch || e.kind !== 'join') return;
    if (Date.now() <= joinWatch) {
      selfAddress = e.from;
      refreshMembersSoon();
    }
    joinWatch = 0;
  }

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    leaving = false;
    setState('connecting', 'Connecting…');
    let ws;
    try {
      ws = new WebSocket(wsUrl);
    } catch (err) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    let historyLoaded = false;
    const pending = [];  // live lines that arrive while the history loads

    ws.addEventListener('open', () => {
      if (socket !== ws) return;
      wasConnected = true;
      setState('connected', 'Connected');
      joinWatch = Date.now() + 2000;
      stableTimer = setTimeout(() => { attempts = 0; }, STABLE_MS);
      resolveReady(true);
      loadHistory().finally(() => {
        historyLoaded = true;
        for (const e of pending.splice(0)) append(e, { dedupe: true });
      });
      refreshMembers();
      clearInterval(membersTimer);
      membersTimer = setInterval(() => { if (!document.hidden) refreshMembers(); }, MEMBERS_REFRESH_MS);
    });

    ws.addEventListener('message', (event) => {
      if (socket !== ws || typeof event.data !== 'string') return;
      for (const line of event.data.split('\n')) {
        if (line === '') continue;
        const e = parseLine(line);
        guessSelf(e);
        const limit = e.kind === 'notice' && /^line too long \(max (\d+) bytes\)/.exec(e.text);
        if (limit) maxLineBytes = +limit[1];
        if (historyLoaded) append(e);
        else pending.push(e);
        if (e.kind === 'join' || e.kind === 'leave') refreshMembersSoon();
      }
    });

    ws.addEventListener('close', () => {
      if (socket !== ws) return;
      socket = null;
      clearTimeout(stableTimer);
      clearInterval(membersTimer);
      joinWatch = 0;
      if (!historyLoaded) for (const e of pending.splice(0)) append(e, { dedupe: true });
      if (leaving) {
        setState('left', 'You left the room');
        addLocal('You left the room.');
        ui.count.textContent = '–';
        ui.members.replaceChildren();
        return;
      }
      if (wasConnected) addLocal('Disconnected from the room.');
      wasConnected = false;
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempts);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    attempts++;
    const due = Date.now() + delay;
    const show = () => {
      const s = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      setState('disconnected', 'Disconnected · retrying in ' + s + ' s');
    };
    show();
    countdownTimer = setInterval(show, 1000);
    retryTimer = setTimeout(connect, delay);
  }

  ui.reconnect.addEventListener('click', () => {
    if (socket) return;
    attempts = 0;
    connect();
  });
  window.addEventListener('online', () => {
    if (!socket && !leaving) {
      attempts = 0;
      connect();
    }
  });

  // ---------------------------------------------------------------------------------
  // Sending

  function showHint(text) {
    ui.hint.textContent = text;
    ui.hint.hidden = !text;
  }

  // The input grows with its text (up to the CSS max-height); empty, it is one line again.
  function autosize() {
    ui.input.style.height = '';
    if (ui.input.value === '') return;
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 160) + 'px';
  }

  function submit() {
    const text = ui.input.value.replace(/\r/g, '').replace(/^\n+|\n+$/g, '');
    if (text.trim() === '') return;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showHint('Not connected: your message is kept until the connection is back.');
      return;
    }
    const lines = text.split('\n');
    const tooLong = lines.findIndex((l) => encoder.encode(l).length > maxLineBytes);
    if (tooLong >= 0) {
      showHint((lines.length > 1 ? 'Line ' + (tooLong + 1) + ' is' : 'This line is') +
        ' too long: the room takes at most ' + maxLineBytes + ' bytes per line.');
      return;
    }
    if (lines.includes('quit')) leaving = true;
    socket.send(text);
    showHint('');
    ui.input.value = '';
    autosize();
    ui.input.focus();
  }

  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  ui.input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  ui.input.addEventListener('input', () => {
    autosize();
    if (!ui.hint.hidden) showHint('');
  });

  // ---------------------------------------------------------------------------------

  ui.ncCommand.textContent = 'nc ' + (location.hostname || '127.0.0.1').replace(/^\[|\]$/g, '') + ' 9999';
  connect();
})();
