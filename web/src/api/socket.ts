// The server's websocket: JSON events and binary preview frames (ComfyUI's protocol).

export type ServerEvent = { type: string; data: Record<string, unknown> };
export type Listener = (event: ServerEvent) => void;
export type PreviewListener = (image: Blob, nodeId: string | null) => void;

/** Decode a binary frame: event 1 = [format][image]; event 4 = [length][JSON metadata][image]. */
export function decodePreview(buffer: ArrayBuffer): { image: Blob; nodeId: string | null } | null {
  const view = new DataView(buffer);
  const event = view.getUint32(0);
  if (event === 1) {
    const format = view.getUint32(4) === 2 ? "image/png" : "image/jpeg";
    return { image: new Blob([buffer.slice(8)], { type: format }), nodeId: null };
  }
  if (event === 4) {
    const length = view.getUint32(4);
    const meta = JSON.parse(new TextDecoder().decode(buffer.slice(8, 8 + length)));
    return { image: new Blob([buffer.slice(8 + length)], { type: meta.image_type ?? "image/jpeg" }), nodeId: meta.node_id ?? null };
  }
  return null;
}

export class ServerSocket {
  readonly clientId = crypto.randomUUID().replace(/-/g, "");
  private socket: WebSocket | null = null;
  private closed = false;

  constructor(private onEvent: Listener, private onPreview: PreviewListener, private onConnection: (up: boolean) => void) {}

  connect(): void {
    const protocol = location.protocol === "https:" ? "wss" : "ws";
    const base = location.pathname.replace(/[^/]*$/, "");
    const socket = new WebSocket(`${protocol}://${location.host}${base}ws?clientId=${this.clientId}`);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "feature_flags", data: { supports_preview_metadata: true } }));
      this.onConnection(true);
    };
    socket.onmessage = (message) => {
      if (typeof message.data === "string") {
        this.onEvent(JSON.parse(message.data));
        return;
      }
      const preview = decodePreview(message.data as ArrayBuffer);
      if (preview) this.onPreview(preview.image, preview.nodeId);
    };
    socket.onclose = () => {
      this.onConnection(false);
      if (!this.closed) setTimeout(() => this.connect(), 1000);
    };
    this.socket = socket;
  }

  close(): void {
    this.closed = true;
    this.socket?.close();
  }
}
