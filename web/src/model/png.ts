// Text chunks of a PNG (tEXt and uncompressed iTXt): where ComfyUI and Atelier keep `workflow` and `prompt`.

export function pngTextChunks(bytes: Uint8Array): Record<string, string> {
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (signature.some((b, i) => bytes[i] !== b)) return {};
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, string> = {};
  let offset = 8;
  while (offset + 8 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === "tEXt") {
      const zero = data.indexOf(0);
      out[latin1(data.subarray(0, zero))] = latin1(data.subarray(zero + 1));
    } else if (type === "iTXt") {
      const zero = data.indexOf(0);
      const compressed = data[zero + 1] === 1;
      let cursor = zero + 3;
      cursor = data.indexOf(0, cursor) + 1; // language tag
      cursor = data.indexOf(0, cursor) + 1; // translated keyword
      if (!compressed) out[latin1(data.subarray(0, zero))] = new TextDecoder().decode(data.subarray(cursor));
    } else if (type === "IEND") {
      break;
    }
    offset += 12 + length;
  }
  return out;
}

function latin1(bytes: Uint8Array): string {
  return new TextDecoder("latin1").decode(bytes);
}
