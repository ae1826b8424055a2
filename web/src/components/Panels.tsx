// Side panels: the queue, the gallery of outputs, errors and messages, saved workflows.
import { useEffect, useState } from "react";
import { api, queueItemLabel, shardLabel, shardOf, viewUrl, type ImageRef, type QueueState } from "../api/client";
import { openSaved } from "../state/actions";
import { setState, useStore } from "../state/store";

function QueuePanel() {
  const remaining = useStore((s) => s.queueRemaining);
  const [queue, setQueue] = useState<QueueState>({ queue_running: [], queue_pending: [] });
  const [history, setHistory] = useState<{ id: string; status: string; label: string }[]>([]);
  useEffect(() => {
    const refresh = () => {
      api.queue().then(setQueue).catch(() => undefined);
      api.history(20).then((h) => setHistory(Object.entries(h).reverse().map(([id, e]) => {
        const shard = shardOf(e.prompt?.[3]);
        const parts = [id.slice(0, 8), e.status.status_str];
        if (shard) parts.push(shardLabel(shard));
        if (e.worker) parts.push(`on ${e.worker.name}`);
        return { id, status: e.status.status_str, label: parts.join(" ") };
      }))).catch(() => undefined);
    };
    refresh();
    const timer = setInterval(refresh, 2000);
    return () => clearInterval(timer);
  }, [remaining]);
  return (
    <div className="panel-body" data-testid="queue-panel">
      <div className="row">
        <button onClick={() => api.interrupt()}>Interrupt</button>
        <button onClick={() => api.clearQueue()}>Clear queue</button>
        <button onClick={() => api.clearHistory()}>Clear history</button>
      </div>
      <h4>Running</h4>
      {queue.queue_running.map((item) => (
        <div key={String(item[1])} className="queue-item running" data-testid="queue-running">
          {queueItemLabel(item, queue.running_on?.[String(item[1])])}</div>
      ))}
      <h4>Pending ({queue.queue_pending.length})</h4>
      {queue.queue_pending.map((item) => (
        <div key={String(item[1])} className="queue-item">{queueItemLabel(item)}
          <button onClick={() => api.deleteFromQueue([String(item[1])])}>cancel</button></div>
      ))}
      <h4>History</h4>
      {history.map((entry) => <div key={entry.id} className={`queue-item ${entry.status}`} data-testid="queue-history">{entry.label}</div>)}
    </div>
  );
}

function Gallery() {
  const gallery = useStore((s) => s.gallery);
  const [full, setFull] = useState<ImageRef | null>(null);
  return (
    <div className="panel-body gallery">
      {gallery.map((image) => (
        <img key={`${image.type}/${image.subfolder}/${image.filename}`} src={viewUrl(image)} alt={image.filename} onClick={() => setFull(image)} />
      ))}
      {full && <div className="fullview" onClick={() => setFull(null)}><img src={viewUrl(full)} alt={full.filename} /></div>}
    </div>
  );
}

function Errors() {
  const messages = useStore((s) => s.messages);
  const nodeErrors = useStore((s) => s.run.nodeErrors);
  const plugins = useStore((s) => s.plugins);
  return (
    <div className="panel-body" data-testid="error-panel">
      {Object.entries(nodeErrors).map(([id, error]) => <div key={id} className="message error">Node #{id}: {error.message}</div>)}
      {[...messages].reverse().map((m, index) => <div key={index} className={`message ${m.level}`}>{m.text}</div>)}
      {plugins.map((m) => <div key={m.key} className={`message ${m.level}`}>{m.text}</div>)}
    </div>
  );
}

function Workflows() {
  const [files, setFiles] = useState<string[]>([]);
  const refresh = () => api.listWorkflows().then(setFiles).catch(() => setFiles([]));
  useEffect(() => {
    void refresh();
  }, []);
  return (
    <div className="panel-body" data-testid="workflow-list">
      <button onClick={refresh}>Refresh</button>
      {files.map((file) => (
        <div key={file} className="workflow-item">
          <a href="#" data-testid={`open-${file}`} onClick={(e) => { e.preventDefault(); void openSaved(file); }}>{file}</a>
          <button title="Delete" onClick={() => api.deleteWorkflow(file).then(refresh)}>✕</button>
        </div>
      ))}
    </div>
  );
}

export function SidePanel() {
  const panel = useStore((s) => s.panel);
  const errors = useStore((s) => Object.keys(s.run.nodeErrors).length + s.messages.filter((m) => m.level === "error").length
    + s.plugins.length);
  const tabs = [["queue", "Queue"], ["gallery", "Gallery"], ["errors", `Messages${errors ? ` (${errors})` : ""}`], ["workflows", "Workflows"]] as const;
  return (
    <aside className="side-panel">
      <nav>{tabs.map(([key, label]) => (
        <button key={key} data-testid={`panel-${key}`} className={panel === key ? "active" : ""} onClick={() => setState({ panel: key })}>{label}</button>
      ))}</nav>
      {panel === "queue" && <QueuePanel />}
      {panel === "gallery" && <Gallery />}
      {panel === "errors" && <Errors />}
      {panel === "workflows" && <Workflows />}
    </aside>
  );
}
