// The one WebSocket of this browser tab: JSON messages in and out, reconnect on close.

export class Connection {
  /**
   * @param {(msg: object) => void} onMessage called with every parsed server message
   * @param {(status: string) => void} onStatus 'connecting' | 'open' | 'closed'
   */
  constructor(onMessage, onStatus) {
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.ws = null;
    this.delay = 500;
    this.timer = null;
  }

  get url() {
    const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const base = window.location.pathname.replace(/[^/]*$/, '');
    return `${proto}//${window.location.host}${base}ws`;
  }

  connect() {
    clearTimeout(this.timer);
    this.onStatus('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      this.onStatus('open');
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        this.onMessage({ type: 'error', message: 'the server sent a message that is not JSON', field: null, request: null });
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onStatus('closed');
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and reconnects
    };
  }

  scheduleReconnect() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 5000);
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send one message; returns false when the socket is not open. */
  send(msg) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }
}
