// Under LoadImage's image choice: upload a file, see the chosen image, and paint its inpainting mask.
import { useState } from "react";
import { api, inputImage, viewUrl } from "../api/client";
import { MaskEditor } from "./MaskEditor";

interface Props {
  nodeId: number;
  value: unknown;
  onChange: (name: string) => void;
}

export function ImageInput({ nodeId, value, onChange }: Props) {
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const name = typeof value === "string" ? value : "";
  const choose = (uploaded: { name: string; subfolder: string }) => {
    setError(null);
    onChange(uploaded.subfolder ? `${uploaded.subfolder}/${uploaded.name}` : uploaded.name);
  };
  const upload = async (file: File | undefined) => {
    if (!file) return;
    try {
      choose(await api.uploadImage(file));
    } catch (failure) {
      setError(String(failure));
    }
  };
  return (
    <div className="image-input nodrag">
      <div className="image-buttons">
        <label className="button">
          upload
          <input type="file" accept="image/*" hidden data-testid={`upload-${nodeId}`}
            onChange={(event) => void upload(event.target.files?.[0])} />
        </label>
        {name && <button data-testid={`edit-mask-${nodeId}`} onClick={() => setEditing(true)}>edit mask</button>}
      </div>
      {error && <div className="input-error">{error}</div>}
      {name && <img className="input-preview" data-testid={`input-preview-${nodeId}`} src={viewUrl(inputImage(name))} alt={name} />}
      {editing && (
        <MaskEditor image={inputImage(name)} onClose={() => setEditing(false)}
          onSaved={(saved) => { setEditing(false); choose(saved); }} />
      )}
    </div>
  );
}
