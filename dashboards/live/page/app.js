// The live control-room page. Data only ever reaches the DOM through textContent and attributes, never HTML.
import { messages } from './messages.js';

const tokenKey = 'plaza.live.token';
const langKey = 'plaza.live.lang';
const mallKey = 'plaza.live.mall';
const svgNs = 'http://www.w3.org/2000/svg';
/** Without any message for this long the link is taken as dead (the server sends at least every 10 s). */
const silenceMs = 30_000;
const maxBackoffMs = 30_000;

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem(langKey) ?? (navigator.language.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en');
if (!(lang in messages)) lang = 'en';
let socket;
let snapshot;
let attempt = 0;
let reconnectTimer;
let watchdog;
let statusKey = ['connecting', {}];

function t(key, vars = {}) {
  const text = messages[lang][key] ?? messages.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] === undefined || vars[name] === null ? '–' : String(vars[name])));
}

function fmt(n) {
  return new Intl.NumberFormat(lang).format(n);
}

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const button of document.querySelectorAll('[data-lang]')) button.setAttribute('aria-pressed', String(button.dataset.lang === lang));
  setStatus(...statusKey);
  if (snapshot) render(snapshot);
}

function setStatus(key, vars = {}) {
  statusKey = [key, vars];
  const el = $('status');
  el.dataset.state = key;
  el.textContent = t(key, vars);
}

function showLogin(error) {
  $('board').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = error ? t('wrongToken') : '';
  $('token').focus();
}

function connect() {
  clearTimeout(reconnectTimer);
  const token = localStorage.getItem(tokenKey);
  if (!token) {
    showLogin(false);
    return;
  }
  $('login').hidden = true;
  $('logout').hidden = false;
  setStatus('connecting');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/live/ws`);
  socket = ws;
  ws.addEventListener('open', () => {
    const mall = localStorage.getItem(mallKey);
    ws.send(JSON.stringify(mall ? { type: 'auth', token, mall } : { type: 'auth', token }));
    armWatchdog(ws);
  });
  ws.addEventListener('message', (event) => {
    if (ws !== socket) return;
    armWatchdog(ws);
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === 'hello') {
      attempt = 0;
      setStatus('connected');
      fillMalls(message.malls, message.mall);
    } else if (message.type === 'snapshot') {
      snapshot = message.snapshot;
      $('board').hidden = false;
      render(snapshot);
    }
  });
  ws.addEventListener('close', (event) => {
    if (ws !== socket) return;
    clearTimeout(watchdog);
    socket = undefined;
    if (event.code === 4401) {
      localStorage.removeItem(tokenKey);
      showLogin(true);
      return;
    }
    scheduleReconnect();
  });
}

function armWatchdog(ws) {
  clearTimeout(watchdog);
  watchdog = setTimeout(() => ws.close(), silenceMs);
}

function scheduleReconnect() {
  // Exponential backoff with jitter, so a restarted server is not hit by every wall screen at once.
  const delayMs = Math.min(maxBackoffMs, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
  attempt = Math.min(attempt + 1, 10);
  setStatus('reconnecting', { s: Math.ceil(delayMs / 1000) });
  reconnectTimer = setTimeout(connect, delayMs);
}

function fillMalls(malls, current) {
  const select = $('mall');
  select.replaceChildren(...malls.map((id) => new Option(id, id, false, id === current)));
  select.parentElement.hidden = malls.length < 2;
}

function setText(root, field, text) {
  const el = root.querySelector(`[data-field="${field}"]`);
  if (el && el.textContent !== text) el.textContent = text;
}

function drawSpark(svg, series) {
  const max = Math.max(1, ...series);
  const bars = series.map((value, i) => {
    const rect = document.createElementNS(svgNs, 'rect');
    const h = (value / max) * 20;
    rect.setAttribute('x', String(i + 0.1));
    rect.setAttribute('width', '0.8');
    rect.setAttribute('y', String(20 - h));
    rect.setAttribute('height', String(h));
    return rect;
  });
  svg.replaceChildren(...bars);
}

function drawOccupancy(root, figures) {
  setText(root, 'occupancy', fmt(figures.occupancy));
  setText(root, 'capacity', figures.capacity === null ? t('noCapacity') : t('ofCapacity', { capacity: fmt(figures.capacity) }));
  const over = figures.capacity !== null && figures.occupancy > figures.capacity;
  root.classList.toggle('over', over);
  const fill = root.querySelector('.fill');
  if (fill) fill.style.width = figures.capacity ? `${Math.min(100, (figures.occupancy / figures.capacity) * 100)}%` : '0%';
}

function drawFigures(root, figures) {
  setText(root, 'entries15', fmt(figures.entries15));
  setText(root, 'entries60', fmt(figures.entries60));
  setText(root, 'visitors', fmt(figures.visitors));
  setText(root, 'passersBy', fmt(figures.passersBy));
  setText(root, 'devices', t('devicesOf', { online: fmt(figures.devicesOnline), total: fmt(figures.devicesOnline + figures.devicesOffline) }));
  root.classList.toggle('degraded', figures.devicesOffline > 0);
  const spark = root.querySelector('.spark');
  if (spark) drawSpark(spark, figures.entriesPerMinute);
}

function storeCard(id) {
  const card = document.createElement('article');
  card.className = 'card';
  card.dataset.store = id;
  const title = document.createElement('h3');
  title.dataset.field = 'name';
  card.append(title);
  const occupancy = document.createElement('div');
  occupancy.className = 'occ';
  for (const [field, cls] of [['occupancy', 'big'], ['capacity', 'sub']]) {
    const span = document.createElement('span');
    span.className = cls;
    span.dataset.field = field;
    occupancy.append(span);
  }
  const meter = document.createElement('div');
  meter.className = 'meter';
  const fill = document.createElement('div');
  fill.className = 'fill';
  meter.append(fill);
  occupancy.append(meter);
  card.append(occupancy);
  const list = document.createElement('dl');
  for (const field of ['entries15', 'entries60', 'visitors', 'passersBy', 'devices']) {
    const term = document.createElement('dt');
    term.dataset.label = field;
    const value = document.createElement('dd');
    value.dataset.field = field;
    list.append(term, value);
  }
  card.append(list);
  const svg = document.createElementNS(svgNs, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 60 20');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('aria-hidden', 'true');
  card.append(svg);
  const offline = document.createElement('p');
  offline.className = 'offline';
  offline.dataset.field = 'offline';
  card.append(offline);
  return card;
}

function render(snap) {
  $('mall-name').textContent = snap.name;
  const open = $('open-state');
  open.textContent = snap.loaded ? t(snap.open ? 'open' : 'closed') : t('loading');
  open.dataset.state = snap.loaded ? (snap.open ? 'open' : 'closed') : 'loading';
  $('clock').textContent = new Date(snap.generatedAt).toLocaleTimeString(lang, { timeZone: snap.timeZone, hour: '2-digit', minute: '2-digit' });

  const totals = document.querySelector('.totals');
  drawFigures(totals, snap.totals);
  drawOccupancy(totals.querySelector('[data-total="occupancy"]'), snap.totals);

  const grid = $('store-grid');
  const cards = new Map([...grid.children].map((card) => [card.dataset.store, card]));
  const ordered = snap.stores.map((store) => {
    const card = cards.get(store.store) ?? storeCard(store.store);
    cards.delete(store.store);
    setText(card, 'name', store.name);
    for (const term of card.querySelectorAll('dt')) term.textContent = t(term.dataset.label);
    drawOccupancy(card.querySelector('.occ'), store);
    drawFigures(card, store);
    const offline = store.devices.filter((d) => d.status !== 'online').map((d) => d.id);
    setText(card, 'offline', offline.length > 0 ? t('offlineList', { ids: offline.join(', ') }) : '');
    card.classList.toggle('alerting', snap.alerts.some((a) => a.store === store.store));
    return card;
  });
  for (const card of cards.values()) card.remove();
  grid.replaceChildren(...ordered);

  const list = $('alert-list');
  list.replaceChildren(
    ...snap.alerts.map((alert) => {
      const item = document.createElement('li');
      item.dataset.kind = alert.kind;
      item.dataset.store = alert.store;
      const where = document.createElement('strong');
      where.textContent = snap.stores.find((s) => s.store === alert.store)?.name ?? alert.store;
      const what = document.createElement('span');
      what.textContent = ` ${t(`alert.${alert.kind}`, { ...alert.detail, device: alert.device })} `;
      const when = document.createElement('time');
      when.dateTime = alert.raisedAt;
      when.textContent = t('since', { time: new Date(alert.raisedAt).toLocaleTimeString(lang, { timeZone: snap.timeZone, hour: '2-digit', minute: '2-digit' }) });
      item.append(where, what, when);
      return item;
    }),
  );
  $('no-alerts').hidden = snap.alerts.length > 0;
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  localStorage.setItem(tokenKey, token);
  $('token').value = '';
  attempt = 0;
  connect();
});

$('logout').addEventListener('click', () => {
  localStorage.removeItem(tokenKey);
  const ws = socket;
  socket = undefined;
  ws?.close();
  snapshot = undefined;
  showLogin(false);
});

$('mall').addEventListener('change', (event) => {
  const mall = event.target.value;
  localStorage.setItem(mallKey, mall);
  socket?.send(JSON.stringify({ type: 'mall', mall }));
});

for (const button of document.querySelectorAll('[data-lang]')) {
  button.addEventListener('click', () => {
    lang = button.dataset.lang;
    localStorage.setItem(langKey, lang);
    applyLanguage();
  });
}

applyLanguage();
connect();
