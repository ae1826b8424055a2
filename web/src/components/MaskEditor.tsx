// Paint an inpainting mask over an input image. The mask is stored as the image's transparency, as ComfyUI does:
// LoadImage reads MASK = 1 - alpha, so painted pixels are the ones to regenerate.
import { type PointerEvent, useEffect, useRef, useState } from "react";
import { createPortal } from "react-dom";
import { api, type ImageRef, type UploadedImage, viewUrl } from "../api/client";

interface Props {
  image: ImageRef;
  onClose: () => void;
  onSaved: (saved: UploadedImage) => void;
}

function loadImage(src: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load ${src}`));
    image.src = src;
  });
}

/** The existing mask (painted where the image is transparent) as white, opaque pixels of ``canvas``. */
async function drawExistingMask(canvas: HTMLCanvasElement, alphaUrl: string) {
  const alpha = await loadImage(alphaUrl);
  const context = canvas.getContext("2d")!;
  context.drawImage(alpha, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < pixels.data.length; i += 4) {
    const painted = 255 - pixels.data[i];
    pixels.data.set([255, 255, 255, painted], i);
  }
  context.putImageData(pixels, 0, 0);
}

/** The upload: transparent where painted, opaque elsewhere (the server keeps only this alpha). */
function maskBlob(canvas: HTMLCanvasElement): Promise<Blob> {
  const out = document.createElement("canvas");
  out.width = canvas.width;
  out.height = canvas.height;
  const painted = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height);
  const result = out.getContext("2d")!.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < painted.data.length; i += 4) result.data[i + 3] = 255 - painted.data[i + 3];
  out.getContext("2d")!.putImageData(result, 0, 0);
  return new Promise((resolve, reject) => out.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("no PNG"))), "image/png"));
}

export function MaskEditor({ image, onClose, onSaved }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [size, setSize] = useState<{ width: number; height: number } | null>(null);
  const [brush, setBrush] = useState(24);
  const [erasing, setErasing] = useState(false);
  const [ready, setReady] = useState(false); // the existing mask is drawn: painting and saving are safe
  const [error, setError] = useState<string | null>(null);
  const last = useRef<{ x: number; y: number } | null>(null);
  const history = useRef<ImageData[]>([]); // the mask before each stroke, for Ctrl+Z
  const url = viewUrl(image);

  useEffect(() => {
    loadImage(url).then((loaded) => setSize({ width: loaded.naturalWidth, height: loaded.naturalHeight }),
      (failure) => setError(String(failure)));
  }, [url]);
  useEffect(() => {
    if (!size || !canvas.current) return;
    drawExistingMask(canvas.current, `${url}&channel=a`).then(() => setReady(true),
      (failure) => setError(`${failure}: the existing mask could not be read, so saving is off`));
  }, [size, url]);

  // While open, the painter owns the keyboard: nothing reaches the graph's shortcuts (Delete would remove the
  // selected node underneath). Escape closes it; Ctrl+Z takes back the last stroke.
  useEffect(() => {
    const ownKeys = (event: KeyboardEvent) => {
      event.stopPropagation();
      if (event.key === "Escape") onClose();
      const previous = (event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z" && history.current.pop();
      if (previous && canvas.current) canvas.current.getContext("2d")!.putImageData(previous, 0, 0);
    };
    window.addEventListener("keydown", ownKeys, true);
    return () => window.removeEventListener("keydown", ownKeys, true);
  }, [onClose]);

  /** A stroke segment from the previous pointer position, so fast moves leave no gaps. */
  const paint = (event: PointerEvent<HTMLCanvasElement>) => {
    if (!ready || !event.buttons || !canvas.current) return;
    const box = canvas.current.getBoundingClientRect();
    const scale = canvas.current.width / box.width;
    const point = { x: (event.clientX - box.left) * scale, y: (event.clientY - box.top) * scale };
    const from = last.current ?? point;
    const context = canvas.current.getContext("2d")!;
    context.globalCompositeOperation = erasing ? "destination-out" : "source-over";
    context.strokeStyle = "#fff";
    context.lineCap = "round";
    context.lineWidth = brush * scale;
    context.beginPath();
    context.moveTo(from.x, from.y);
    context.lineTo(point.x, point.y);
    context.stroke();
    last.current = point;
  };
  const remember = () => {
    const context = canvas.current?.getContext("2d");
    if (context) history.current.push(context.getImageData(0, 0, context.canvas.width, context.canvas.height));
  };
  const clear = () => {
    remember();
    canvas.current?.getContext("2d")!.clearRect(0, 0, canvas.current.width, canvas.current.height);
  };
  const save = async () => {
    try {
      const blob = await maskBlob(canvas.current!);
      onSaved(await api.uploadMask(blob, `clipspace-mask-${Date.now()}.png`, image));
    } catch (failure) {
      setError(String(failure));
    }
  };

  // A portal: inside the canvas's transformed layer, "position: fixed" would not be relative to the window. React
  // events still bubble to the node that opened it, so pointer events stop here (a click must not select it).
  const stop = (event: { stopPropagation: () => void }) => event.stopPropagation();
  return createPortal(
    <div className="modal-backdrop" data-testid="mask-editor" onPointerDown={stop} onMouseDown={stop}
      onClick={stop} onDoubleClick={stop}>
      <div className="mask-editor">
        <div className="mask-toolbar">
          <label>brush <input type="range" min={2} max={200} value={brush} data-testid="mask-brush"
            onChange={(e) => setBrush(Number(e.target.value))} /></label>
          <label><input type="checkbox" checked={erasing} onChange={(e) => setErasing(e.target.checked)} /> erase</label>
          <button onClick={clear}>clear</button>
          <span className="spacer" />
          <button onClick={onClose}>cancel</button>
          <button className="primary" data-testid="mask-save" disabled={!ready} onClick={() => void save()}>save</button>
        </div>
        {error && <div className="input-error">{error}</div>}
        {size && (
          <div className="mask-stage" style={{ aspectRatio: `${size.width} / ${size.height}`,
            ["--aspect" as string]: size.width / size.height }}>
            <img src={url} alt={image.filename} draggable={false} />
            <canvas ref={canvas} width={size.width} height={size.height} data-testid="mask-canvas"
              onPointerDown={(e) => {
                e.currentTarget.setPointerCapture(e.pointerId);
                if (ready) remember();
                last.current = null;
                paint(e);
              }}
              onPointerMove={paint} onPointerUp={() => { last.current = null; }} />
          </div>
        )}
      </div>
    </div>,
    document.body,
  );
}
